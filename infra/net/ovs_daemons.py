"""Start a private ovsdb-server and ovs-vswitchd, without systemd.

Debian's openvswitch-switch expects systemd to run both daemons; CI
containers and the embedded profile have none. This starts them in a
folder of our own (database, sockets, pid and log files), optionally
inside a network namespace so a simulated host gets its own switch, and
stops them again. `ovs-ctl` is avoided because it insists on the kernel
module, which this machine does not have.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from infra.net import processes
from infra.net.namespaces import in_namespace, run
from infra.net.ovs import OvsCtl

SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")


@dataclass(frozen=True)
class OvsDaemons:
    directory: Path
    namespace: str | None

    @property
    def db(self) -> str:
        return f"unix:{self.directory / 'db.sock'}"

    def ctl(self) -> OvsCtl:
        return OvsCtl(db=self.db, namespace=self.namespace)

    def stop(self) -> None:
        for name in ("ovs-vswitchd", "ovsdb-server"):
            pid_file = self.directory / f"{name}.pid"
            try:
                pid = int(pid_file.read_text().strip())
            except (OSError, ValueError):
                continue
            processes.stop(pid)


def start(directory: Path, namespace: str | None = None) -> OvsDaemons:
    """Create a database in `directory` if needed and start both daemons."""
    directory.mkdir(parents=True, exist_ok=True)
    daemons = OvsDaemons(directory, namespace)
    database = directory / "conf.db"
    if not database.exists():
        run(None, ["ovsdb-tool", "create", str(database), str(SCHEMA)])
    common = ["--detach", "--no-chdir"]
    for name, args in (
        ("ovsdb-server", [str(database), f"--remote=punix:{directory / 'db.sock'}"]),
        ("ovs-vswitchd", [daemons.db]),
    ):
        files = [
            f"--pidfile={directory / f'{name}.pid'}",
            f"--log-file={directory / f'{name}.log'}",
            f"--unixctl={directory / f'{name}.ctl'}",
        ]
        run(None, in_namespace(namespace, [name, *args, *common, *files]))
        if name == "ovsdb-server":
            daemons.ctl().vsctl("--no-wait", "init")
    return daemons
