"""The production profile as separate processes on PostgreSQL and NATS:
`strata api`, `strata projector` and two `strata relay`s, one of which leads."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from infra.nats_server import NatsServerProcess, find_nats_server, start_nats_server
from tests.e2e.cloud import free_port
from tests.support.auth import issue_token

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(find_nats_server() is None, reason="nats-server is not installed"),
]

PASSWORD = "prod-admin-secret"


class Processes:
    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env = env
        self.folder = folder
        self.running: list[subprocess.Popen[bytes]] = []

    def run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "runtime.cli", *args],
            env=self.env,
            capture_output=True,
            timeout=120,
            check=True,
        )

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "runtime.cli", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.running.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.running:
            process.terminate()
        for process in self.running:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def nats_process(tmp_path: Path) -> Iterator[NatsServerProcess]:
    binary = find_nats_server()
    assert binary is not None
    server = start_nats_server(binary, tmp_path / "nats")
    yield server
    server.stop()


@pytest.fixture
def cloud(
    tmp_path: Path, pg_dsn: str, nats_process: NatsServerProcess
) -> Iterator[tuple[Processes, str]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "STRATA_"))}
    env.update(
        {
            "STRATA_DATA_DIR": str(tmp_path / "data"),
            "STRATA_DATABASE_URL": pg_dsn,
            "STRATA_NATS_URL": nats_process.url,
            "STRATA_IDENTITY_PORT": str(port),
            "STRATA_ADMIN_PASSWORD": PASSWORD,
            "STRATA_CATCH_UP_INTERVAL": "0.2",
        }
    )
    processes = Processes(env, tmp_path)
    processes.run("bootstrap")
    processes.start("api", "api", "--service", "identity")
    processes.start("projector", "projector")
    url = f"http://127.0.0.1:{port}/v3"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, (tmp_path / "api.log").read_text()
            time.sleep(0.2)
    yield processes, url
    processes.stop_all()


def post(url: str, body: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["X-Auth-Token"] = token
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    return urllib.request.urlopen(request, timeout=30)


def admin_token(url: str) -> str:
    return issue_token(url, PASSWORD)


def create_project(url: str, token: str, name: str) -> str:
    with post(url + "/projects", {"project": {"name": name}}, token) as response:
        return str(json.loads(response.read())["project"]["id"])


async def project_events(nats_url: str, seconds: float) -> list[str]:
    """Every project id in Project.Created messages on the stream, in order."""
    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().subscribe(
            "strata.events.identity.project.created", ordered_consumer=True
        )
        seen: list[str] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except nats.errors.TimeoutError:
                continue
            seen.append(json.loads(msg.data)["subject"])
        return seen
    finally:
        await nc.close()


def wait_for_projects(nats_url: str, wanted: list[str], timeout: float = 20) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            seen = asyncio.run(project_events(nats_url, 1.0))
        except nats.js.errors.NotFoundError:
            seen = []  # the relay has not made its stream yet (a slow start)
        if set(wanted) <= set(seen) or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def wait_for_line(log: Path, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert time.monotonic() < deadline, f"{log.name}: no {text!r}: {log.read_text()}"
        time.sleep(0.1)


def test_separate_processes_serve_stream_and_survive_losing_the_leading_relay(
    cloud: tuple[Processes, str], nats_process: NatsServerProcess
) -> None:
    processes, url = cloud
    first_relay = processes.start("relay-1", "relay")
    # Let the first one take the lead (a loaded machine starts it slowly).
    wait_for_line(processes.folder / "relay-1.log", "relay: publishing to")
    time.sleep(1.0)
    processes.start("relay-2", "relay")
    token = admin_token(url)
    before = create_project(url, token, "before-failover")
    seen = wait_for_projects(nats_process.url, [before])
    assert seen.count(before) == 1

    first_relay.kill()  # no goodbye: its PostgreSQL session (and lock) just ends
    first_relay.wait()
    after = create_project(url, token, "after-failover")
    seen = wait_for_projects(nats_process.url, [before, after])
    assert seen.count(before) == 1, "the new leader must not publish again"
    assert seen.count(after) == 1
    assert seen.index(before) < seen.index(after)
