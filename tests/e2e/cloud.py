"""Start a real `strata up` in a subprocess on free ports, for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from infra.settings import SERVICE_PORTS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningCloud:
    process: subprocess.Popen[bytes]
    auth_url: str
    password: str
    data_dir: Path
    log: Path
    ports: dict[str, int]

    def env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update(
            {
                "OS_AUTH_URL": self.auth_url,
                "OS_IDENTITY_API_VERSION": "3",
                "OS_USERNAME": "admin",
                "OS_PASSWORD": self.password,
                "OS_PROJECT_NAME": "admin",
                "OS_USER_DOMAIN_NAME": "Default",
                "OS_PROJECT_DOMAIN_NAME": "Default",
                "OS_REGION_NAME": "RegionOne",
            }
        )
        env.update(overrides)
        return env

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_cloud(
    data_dir: Path,
    database_url: str = "",
    start_nats: bool = False,
    extra_env: dict[str, str] | None = None,
) -> RunningCloud:
    ports = {service: free_port() for service in SERVICE_PORTS}
    port = ports["identity"]
    password = "e2e-admin-secret"
    env = dict(os.environ)
    for service, service_port in ports.items():
        env["STRATA_" + service.upper().replace("-", "_") + "_PORT"] = str(service_port)
    env.update(
        {
            "STRATA_DATA_DIR": str(data_dir),
            "STRATA_ADMIN_PASSWORD": password,
            "STRATA_DATABASE_URL": database_url,
            "STRATA_START_NATS": "true" if start_nats else "false",
            # Most tests drive the APIs only; those about the dataplane turn
            # the agent on inside a namespace of their own.
            "STRATA_NETWORK_AGENT": "off",
            "STRATA_COMPUTE_DRIVER": "off",
        }
    )
    env.update(extra_env or {})
    log = data_dir / "strata.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "runtime.cli", "up"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"strata up exited: {log.read_text()}")
        try:
            urllib.request.urlopen(url + "/v3", timeout=1).close()
        except OSError:
            time.sleep(0.2)
            continue
        # An API worker can answer a moment before the parent has said it
        # is up (and what its agents are): tests read that from the log.
        if b"Press Ctrl-C to stop." in log.read_bytes():
            break
        time.sleep(0.05)
    else:
        process.kill()
        raise RuntimeError(f"strata up did not answer: {log.read_text()}")
    return RunningCloud(process, url + "/v3", password, data_dir, log, ports)
