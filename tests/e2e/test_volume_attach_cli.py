"""The `openstack` CLI attaching a volume to a running server and detaching
it, on a `strata up` whose compute agent runs libvirt's test driver and
whose storage agent keeps real qcow2 files: Nova's and Cinder's views of the
attachment agree at each step, and Cinder refuses to delete a volume in use."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cloud import RunningCloud, start_cloud
from tests.e2e.test_identity_cli import osc, osc_json
from tests.e2e.test_volume_cli import wait_status

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    pytest.importorskip("libvirt")
    running = start_cloud(
        Path(tmp_path_factory.mktemp("cloud")), extra_env={"STRATA_COMPUTE_DRIVER": "test"}
    )
    yield running
    running.stop()


def eventually(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen")


def test_add_list_and_remove_a_volume(cloud: RunningCloud, tmp_path: Path) -> None:
    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"\0" * 65536)
    osc(cloud, "image", "create", "--file", str(disk), "--disk-format", "raw",
        "--container-format", "bare", "--public", "att-image")  # fmt: skip
    osc(cloud, "network", "create", "att-net")
    osc(cloud, "subnet", "create", "--network", "att-net", "--subnet-range", "10.41.0.0/24",
        "att-sub")  # fmt: skip
    osc(cloud, "flavor", "create", "--vcpus", "1", "--ram", "128", "--disk", "1", "att.small")
    osc(cloud, "server", "create", "--flavor", "att.small", "--image", "att-image",
        "--network", "att-net", "--wait", "att-vm")  # fmt: skip
    server = osc_json(cloud, "server", "show", "att-vm")
    assert server["status"] == "ACTIVE"
    osc(cloud, "volume", "create", "--size", "1", "att-vol")
    volume = wait_status(cloud, "volume", "att-vol", "available")

    osc(cloud, "server", "add", "volume", "att-vm", "att-vol")
    shown = wait_status(cloud, "volume", "att-vol", "in-use")
    [attachment] = shown["attachments"]
    assert attachment["server_id"] == server["id"]
    # vda is the root disk and vdb the config drive.
    assert attachment["device"] == "/dev/vdc"
    listed = osc_json(cloud, "server", "volume", "list", "att-vm")
    assert [(a["Volume ID"], a["Device"]) for a in listed] == [(volume["id"], "/dev/vdc")]

    refused = osc(cloud, "volume", "delete", "att-vol", check=False)
    assert refused.returncode != 0
    assert "in-use" in refused.stderr or "409" in refused.stderr or "400" in refused.stderr
    assert osc_json(cloud, "volume", "show", "att-vol")["status"] == "in-use"

    osc(cloud, "server", "remove", "volume", "att-vm", "att-vol")
    wait_status(cloud, "volume", "att-vol", "available")
    assert osc_json(cloud, "server", "volume", "list", "att-vm") == []

    # Attached again, then the server deleted: the volume is free at once.
    osc(cloud, "server", "add", "volume", "att-vm", "att-vol")
    wait_status(cloud, "volume", "att-vol", "in-use")
    osc(cloud, "server", "delete", "--wait", "att-vm")
    shown = osc_json(cloud, "volume", "show", "att-vol")
    assert shown["status"] == "available" and shown["attachments"] == []
    osc(cloud, "volume", "delete", "att-vol")
    eventually(
        lambda: osc(cloud, "volume", "show", "att-vol", check=False).returncode != 0,
        "the volume's deletion",
    )
