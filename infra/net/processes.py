"""Stop daemons we started but are not the parent of.

dnsmasq and the OVS daemons detach, so their parent is init (or whatever
reaps orphans in a container), which may reap them late or never. A zombie
therefore counts as stopped; waiting for /proc/<pid> to vanish could
otherwise take the whole timeout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def owned_pid(pid_file: Path, marker: Path) -> int | None:
    """The pid in `pid_file` if it names a live process whose command line
    holds `marker` (a path of ours): pids are reused, so a bare number in a
    stale pid file may name somebody else's process."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if running(pid) and str(marker).encode() in cmdline else None


def stop(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM, wait up to `timeout`, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running(pid):
        time.sleep(0.02)
    if running(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
