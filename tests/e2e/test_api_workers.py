"""`strata up` with several API processes on the same ports.

Every request below opens a connection of its own, which the kernel gives to
either process, so a check that holds in every round holds across them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cloud import RunningCloud, start_cloud
from tests.support.auth import issue_token

pytestmark = pytest.mark.e2e

ROUNDS = 30


def _call(url: str, token: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"X-Auth-Token": token, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, None


def _workers(cloud: RunningCloud) -> list[int]:
    marker = f"--worker-of\0{cloud.process.pid}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:  # gone meanwhile
            continue
    return found


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for whoever adopted it to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Any:
    running = start_cloud(
        tmp_path_factory.mktemp("api-workers") / "cloud", extra_env={"STRATA_API_WORKERS": "2"}
    )
    try:
        yield running
    finally:
        running.stop()


def test_a_worker_serves_beside_the_parent(cloud: RunningCloud) -> None:
    workers = _workers(cloud)
    assert len(workers) == 1
    assert "API processes  2" in cloud.log.read_text()


def test_a_revoked_token_is_refused_by_every_process_at_once(cloud: RunningCloud) -> None:
    admin = issue_token(cloud.auth_url, cloud.password)
    for _ in range(ROUNDS):
        token = issue_token(cloud.auth_url, cloud.password)
        headers = {"X-Subject-Token": token}
        check = f"{cloud.auth_url}/auth/tokens"
        # Validated (and so cached) by one process or the other ...
        for _ in range(2):
            request = urllib.request.Request(check, headers={"X-Auth-Token": admin, **headers})
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 200
        revoke = urllib.request.Request(
            check, method="DELETE", headers={"X-Auth-Token": admin, **headers}
        )
        with urllib.request.urlopen(revoke, timeout=30) as response:
            assert response.status == 204
        # ... and refused by both right after the revocation answered.
        for _ in range(2):
            request = urllib.request.Request(check, headers={"X-Auth-Token": admin, **headers})
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=30)
            assert refused.value.code == 404


def test_what_one_process_created_the_other_reads_at_once(cloud: RunningCloud) -> None:
    token = issue_token(cloud.auth_url, cloud.password)
    base = f"http://127.0.0.1:{cloud.ports['network']}/v2.0"
    for index in range(ROUNDS):
        status, created = _call(
            f"{base}/networks", token, "POST", {"network": {"name": f"w{index}"}}
        )
        assert status == 201
        status, shown = _call(f"{base}/networks/{created['network']['id']}", token)
        assert status == 200
        assert shown["network"]["name"] == f"w{index}"


def test_a_second_cloud_on_the_same_ports_is_refused(cloud: RunningCloud, tmp_path: Path) -> None:
    env = dict(os.environ)
    for service, port in cloud.ports.items():
        env["STRATA_" + service.upper().replace("-", "_") + "_PORT"] = str(port)
    env.update(
        {
            "STRATA_DATA_DIR": str(tmp_path / "other"),
            "STRATA_API_WORKERS": "2",
            "STRATA_START_NATS": "false",
            "STRATA_NETWORK_AGENT": "off",
            "STRATA_COMPUTE_DRIVER": "off",
        }
    )
    other = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "up"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert other.returncode == 1
    assert "cannot listen on 127.0.0.1:" in other.stderr


def test_a_worker_stops_when_its_parent_dies(tmp_path: Path) -> None:
    cloud = start_cloud(tmp_path / "cloud", extra_env={"STRATA_API_WORKERS": "2"})
    try:
        deadline = time.monotonic() + 30
        while not (workers := _workers(cloud)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(workers) == 1
        cloud.process.send_signal(signal.SIGKILL)
        cloud.process.wait()
        deadline = time.monotonic() + 30
        while _alive(workers[0]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(workers[0]), "the worker outlived its parent"
    finally:
        cloud.stop()
