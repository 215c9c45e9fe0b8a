"""More API processes on the ports of this one, as Neutron's `api_workers`.

One Python process serves about one core's worth of requests (the GIL), so a
host with more cores runs more processes, each serving every port named
(`SO_REUSEPORT`; connections go round them by source port, see
`runtime/serve.py`). Nothing is lost
by it: each process projects its own writes before answering into the read
models all of them share, and tells its peers at once what changed
(`infra/host_wakeups.py`), so no cache of theirs answers from before.

The extra processes are children (`strata api --worker-of PID`): the parent
stops them, and a child whose parent died without doing so stops itself.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runtime.children import stop_children

PARENT_CHECK_INTERVAL = 1.0
READY_TIMEOUT = 60.0  # a child's start-up: imports and opening the databases


@dataclass
class ApiWorkers:
    children: list[subprocess.Popen[bytes]]
    stop: Callable[[], None]
    # Read ends of the pipes each child writes one line to once it listens.
    _ready_pipes: list[int] = field(default_factory=list)

    def wait_until_listening(self, timeout: float = READY_TIMEOUT) -> int:
        """Block until every child listens (or died, or `timeout` passed);
        how many listen. Connections made before a child listens all go to
        the others and stay there (HTTP keep-alive)."""
        deadline = time.monotonic() + timeout
        ready = 0
        for fd in self._ready_pipes:
            line = b""
            while not line.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    break
                chunk = os.read(fd, 64)
                if not chunk:  # the child exited before it listened
                    break
                line += chunk
            ready += line.startswith(b"listening")
            os.close(fd)
        self._ready_pipes.clear()
        return ready


def spawn_api_workers(count: int, services: Sequence[str], log_path: Path) -> ApiWorkers:
    """Start `count` children serving `services`."""
    if count <= 0:
        return ApiWorkers([], lambda: None)
    log_file = log_path.open("ab")
    command = [sys.executable, "-m", "runtime.cli", "api", "--worker-of", str(os.getpid())]
    for service in services:
        command += ["--service", service]
    children, pipes = [], []
    for _ in range(count):
        read_end, write_end = os.pipe()
        children.append(
            subprocess.Popen(
                [*command, "--ready-fd", str(write_end)],
                stdout=subprocess.DEVNULL,
                stderr=log_file,
                stdin=subprocess.DEVNULL,
                pass_fds=(write_end,),
                start_new_session=True,  # the parent, not the terminal, stops them
            )
        )
        os.close(write_end)
        pipes.append(read_end)

    def stop() -> None:
        stop_children(children)
        log_file.close()

    return ApiWorkers(children, stop, pipes)


def tell_parent_listening(ready_fd: int | None) -> None:
    """A child's side of `wait_until_listening`."""
    if ready_fd is None:
        return
    try:
        os.write(ready_fd, b"listening\n")
    except OSError:
        pass  # the parent stopped waiting; it serves regardless
    finally:
        os.close(ready_fd)


def stop_with_parent(parent_pid: int) -> None:
    """Send this process SIGTERM (its clean stop) once `parent_pid` is gone."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            threading.Event().wait(PARENT_CHECK_INTERVAL)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
