"""Network namespaces: create, list, delete, and run a command inside one.

`None` always means "the namespace this process runs in", so the agent can
treat a simulated host (a named namespace) and the real host the same way.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute, netns  # type: ignore[import-untyped]

NETNS_DIR = Path("/run/netns")


def list_namespaces() -> list[str]:
    # Read the directory rather than asking pyroute2: it is what `ip netns`
    # uses too, and it cannot fail half-way.
    if not NETNS_DIR.is_dir():
        return []
    return sorted(entry.name for entry in NETNS_DIR.iterdir())


def exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def ensure_namespace(name: str) -> bool:
    """Create `name` unless it exists; True when it was created."""
    if exists(name):
        return False
    netns.create(name)
    with iproute(name) as ipr:
        # A namespace starts with lo down, which breaks local sockets (dnsmasq
        # binding, 169.254.169.254 as a local route).
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
    return True


def delete_namespace(name: str) -> None:
    # Deleting the namespace destroys every veth end inside it, and with it
    # the peer on the bridge, so one call cleans up a whole router or DHCP
    # server (processes must be stopped first by the caller).
    with contextlib.suppress(FileNotFoundError, OSError):
        netns.remove(name)


@contextlib.contextmanager
def iproute(ns: str | None) -> Iterator[Any]:
    """A pyroute2 IPRoute bound to `ns` (None: the current namespace)."""
    ipr = IPRoute() if ns is None else IPRoute(netns=ns)
    try:
        yield ipr
    finally:
        ipr.close()


def identity(name: str) -> int | None:
    """The inode of namespace `name` (None: it does not exist).

    A namespace deleted and created again under the same name gets another
    inode, so what was learnt about the first (its tables, an open socket
    into it) can be told apart from the second.
    """
    try:
        return os.stat(NETNS_DIR / name).st_ino
    except OSError:
        return None


class Sockets:
    """Sockets into named namespaces, kept open from one pass to the next.

    Opening a pyroute2 socket into a named namespace forks a helper, which
    cost tens of milliseconds per namespace and pass. An open socket keeps
    its namespace alive after `ip netns delete` (and with it the veths whose
    peers sit on the host's bridges), so `prune` must run whenever a
    namespace may have gone: a socket whose namespace is gone or was
    replaced is closed, and the next `get` opens one into the new one.
    Not thread-safe: the agent uses it under its pass lock.
    """

    def __init__(self) -> None:
        self._open: dict[str, tuple[int, Any]] = {}

    def get(self, name: str) -> Any:
        inode = identity(name)
        held = self._open.get(name)
        if held is not None and held[0] == inode:
            return held[1]
        self.close(name)
        if inode is None:
            raise LookupError(f"namespace {name} does not exist")
        ipr = IPRoute(netns=name)
        self._open[name] = (inode, ipr)
        return ipr

    def prune(self) -> None:
        """Close the sockets whose namespace is gone or was replaced."""
        for name, (inode, _) in list(self._open.items()):
            if identity(name) != inode:
                self.close(name)

    def close(self, name: str | None = None) -> None:
        """Close the socket into `name` (None: every socket)."""
        for key in list(self._open) if name is None else [name]:
            held = self._open.pop(key, None)
            if held is not None:
                with contextlib.suppress(Exception):
                    held[1].close()


def in_namespace(ns: str | None, argv: Sequence[str]) -> list[str]:
    """`argv` prefixed so that it runs inside `ns`."""
    return list(argv) if ns is None else ["ip", "netns", "exec", ns, *argv]


def run(
    ns: str | None, argv: Sequence[str], stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        in_namespace(ns, argv),
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if check and result.returncode != 0:
        raise CommandError(list(argv), result.returncode, result.stderr.strip())
    return result


def get_sysctl(ns: str | None, key: str) -> str:
    return run(ns, ["sysctl", "-n", key]).stdout.strip()


def ensure_sysctl(ns: str | None, key: str, value: str) -> bool:
    """Set a sysctl inside `ns`; True when it had another value."""
    if get_sysctl(ns, key) == value:
        return False
    run(ns, ["sysctl", "-qw", f"{key}={value}"])
    return True


class CommandError(RuntimeError):
    def __init__(self, argv: list[str], returncode: int, stderr: str) -> None:
        super().__init__(f"{' '.join(argv)} exited {returncode}: {stderr}")
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr
