"""Stop daemons we started but are not the parent of.

dnsmasq and the OVS daemons detach, so their parent is init (or whatever
reaps orphans in a container), which may reap them late or never. A zombie
therefore counts as stopped; waiting for /proc/<pid> to vanish could
otherwise take the whole timeout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
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


class OwnedDaemon:
    """A detached process of ours, owned through the files of its folder
    (command line, pid file, log), so an agent finds, stops and removes
    what a previous run of it started."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.pid_file = directory / "pid"
        self.args_file = directory / "args"
        self.log_file = directory / "log"

    def pid(self) -> int | None:
        """The running process's pid, if the pid file names a live one of ours
        (its command line names this folder)."""
        return owned_pid(self.pid_file, self.directory)

    def stop(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        stop(pid)
        self.pid_file.unlink(missing_ok=True)
        return True

    def remove(self) -> bool:
        stopped = self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
        return stopped
