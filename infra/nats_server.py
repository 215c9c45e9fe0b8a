"""Run a private `nats-server` for the embedded profile when one is installed.

With no STRATA_NATS_URL, `strata up` looks for the binary and, when it finds
it, starts a JetStream server bound to loopback on a free port with its store
in the data folder, so subscribers can use real NATS clients; without the
binary the relay falls back to the in-process bus.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SEARCH_PATHS = ("/usr/sbin/nats-server", "/usr/local/bin/nats-server")


def find_nats_server() -> str | None:
    found = shutil.which("nats-server")
    if found:
        return found
    return next((p for p in SEARCH_PATHS if Path(p).is_file()), None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class NatsServerProcess:
    process: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_nats_server(binary: str, data_dir: Path, timeout: float = 10.0) -> NatsServerProcess:
    """Start nats-server with JetStream and wait until it accepts connections."""
    port = _free_port()
    store = data_dir / "nats"
    store.mkdir(parents=True, exist_ok=True)
    log = (data_dir / "nats-server.log").open("ab")
    process = subprocess.Popen(
        [binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        # Its own session: a Ctrl-C at the terminal reaches strata only, which
        # stops the relay first and the server after it.
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nats-server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return NatsServerProcess(process, f"nats://127.0.0.1:{port}")
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("nats-server did not start listening in time")
