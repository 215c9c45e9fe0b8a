"""More API processes on the ports of this one, as Neutron's `api_workers`.

One Python process serves about one core's worth of requests (the GIL), so a
host with more cores runs more processes, each serving every port named
(`SO_REUSEPORT`; the kernel spreads connections over them). Nothing is lost
by it: each process projects its own writes before answering into the read
models all of them share, and tells its peers at once what changed
(`infra/host_wakeups.py`), so no cache of theirs answers from before.

The extra processes are children (`strata api --worker-of PID`): the parent
stops them, and a child whose parent died without doing so stops itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

PARENT_CHECK_INTERVAL = 1.0


def spawn_api_workers(
    count: int, services: Sequence[str], log_path: Path
) -> tuple[list[subprocess.Popen[bytes]], Callable[[], None]]:
    """Start `count` children serving `services`; returns them and their stopper."""
    if count <= 0:
        return [], lambda: None
    log_file = log_path.open("ab")
    command = [sys.executable, "-m", "runtime.cli", "api", "--worker-of", str(os.getpid())]
    for service in services:
        command += ["--service", service]
    children = [
        subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # the parent, not the terminal, stops them
        )
        for _ in range(count)
    ]

    def stop() -> None:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        log_file.close()

    return children, stop


def stop_with_parent(parent_pid: int) -> None:
    """Send this process SIGTERM (its clean stop) once `parent_pid` is gone."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            threading.Event().wait(PARENT_CHECK_INTERVAL)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
