"""Open vSwitch through ovs-vsctl, userspace datapath only.

There is no openvswitch kernel module here, so every bridge must use
`datapath_type=netdev`. ovs-vsctl exits 0 even when vswitchd could not
create a bridge or port (the failure lands in the Interface's `error`
column), so each change is checked by reading the database back.
"""

from __future__ import annotations

import json
import shutil

from infra.net.namespaces import CommandError, run


def available() -> bool:
    return shutil.which("ovs-vsctl") is not None


class OvsError(RuntimeError):
    pass


class OvsCtl:
    def __init__(self, db: str | None = None, namespace: str | None = None) -> None:
        # `db` ("unix:/path/db.sock") lets a test run a private ovsdb-server;
        # `namespace` runs ovs-vsctl where that server's vswitchd lives.
        self.db = db
        self.namespace = namespace

    def vsctl(self, *args: str) -> str:
        argv = ["ovs-vsctl", "--timeout=10"]
        if self.db:
            argv.append(f"--db={self.db}")
        try:
            return run(self.namespace, [*argv, *args]).stdout.strip()
        except CommandError as exc:
            raise OvsError(str(exc)) from exc

    def bridges(self) -> list[str]:
        return self.vsctl("list-br").split()

    def ports(self, bridge: str) -> list[str]:
        return self.vsctl("list-ports", bridge).split()

    def add_bridge(self, name: str) -> None:
        self.vsctl(
            "--may-exist", "add-br", name, "--", "set", "Bridge", name, "datapath_type=netdev"
        )
        self._check_interface(name)

    def delete_bridge(self, name: str) -> None:
        self.vsctl("--if-exists", "del-br", name)

    def add_port(self, bridge: str, port: str, **interface: str) -> None:
        """Add `port`; `interface` columns (type=tap, mtu_request=1450) apply on creation."""
        settings = [f"{key}={value}" for key, value in sorted(interface.items())]
        extra = ["--", "set", "Interface", port, *settings] if settings else []
        self.vsctl("--may-exist", "add-port", bridge, port, *extra)
        self._check_interface(port)

    def set_interface(self, port: str, **interface: str) -> None:
        self.vsctl("set", "Interface", port, *(f"{k}={v}" for k, v in sorted(interface.items())))

    def delete_port(self, bridge: str, port: str) -> None:
        self.vsctl("--if-exists", "del-port", bridge, port)

    def _check_interface(self, name: str) -> None:
        output = self.vsctl("--format=json", "--columns=error,ofport", "list", "Interface", name)
        row = json.loads(output)["data"][0]
        error, ofport = row[0], row[1]
        if isinstance(error, str) and error:
            raise OvsError(f"{name}: {error}")
        # No ofport (an empty set) or -1: vswitchd did not create it, e.g. a
        # bridge left on the kernel datapath, which does not exist here.
        if not isinstance(ofport, int) or ofport < 0:
            raise OvsError(f"{name}: vswitchd could not create it (see ovs-vswitchd.log)")
