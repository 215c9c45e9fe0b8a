"""Snapshots of servers to images through real clients, on a `strata up`
whose compute agent runs libvirt's test driver with real qemu-img disks:
`openstack server image create --wait`, then `image show` and `image save`;
openstacksdk's create_server_image(wait=True); and a server booted from the
snapshot."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cloud import RunningCloud, start_cloud
from tests.e2e.test_identity_cli import osc, osc_json
from tests.e2e.test_identity_sdk import connect

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    pytest.importorskip("libvirt")
    running = start_cloud(
        Path(tmp_path_factory.mktemp("cloud")), extra_env={"STRATA_COMPUTE_DRIVER": "test"}
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def server(cloud: RunningCloud, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An ACTIVE server on a raw image whose every byte is known."""
    disk = tmp_path_factory.mktemp("image") / "disk.raw"
    disk.write_bytes(bytes(range(256)) * 256)
    osc(cloud, "image", "create", "--file", str(disk), "--disk-format", "raw",
        "--container-format", "bare", "--public", "snap-base")  # fmt: skip
    osc(cloud, "network", "create", "snap-net")
    osc(cloud, "subnet", "create", "--network", "snap-net", "--subnet-range", "10.42.0.0/24",
        "snap-sub")  # fmt: skip
    osc(cloud, "flavor", "create", "--vcpus", "1", "--ram", "128", "--disk", "1", "snap.small")
    created = osc_json(cloud, "server", "create", "--flavor", "snap.small", "--image",
                       "snap-base", "--network", "snap-net", "--wait", "snap-vm")  # fmt: skip
    assert created["status"] == "ACTIVE"
    return str(created["id"])


def test_cli_snapshot_waits_for_an_active_image(
    cloud: RunningCloud, server: str, tmp_path: Path
) -> None:
    made = osc_json(cloud, "server", "image", "create", "--wait", "--name", "cli-snap",
                    "--property", "purpose=e2e", server)  # fmt: skip
    image = osc_json(cloud, "image", "show", made["id"])
    assert image["status"] == "active" and image["name"] == "cli-snap"
    assert (image["disk_format"], image["container_format"]) == ("qcow2", "bare")
    assert image["visibility"] == "private"
    props = image["properties"]
    assert props["image_type"] == "snapshot" and props["instance_uuid"] == server
    assert props["purpose"] == "e2e"
    saved = tmp_path / "snap.qcow2"
    osc(cloud, "image", "save", "--file", str(saved), "cli-snap")
    content = saved.read_bytes()
    assert image["size"] == len(content)
    assert image["checksum"] == hashlib.md5(content).hexdigest()
    info = subprocess.run(
        ["qemu-img", "info", "--output=json", str(saved)], capture_output=True, check=True
    )
    assert "backing-filename" not in json.loads(info.stdout)
    assert osc_json(cloud, "server", "show", server)["status"] == "ACTIVE"
    events = osc_json(cloud, "server", "event", "list", server)
    assert "createImage" in [e["Action"] for e in events]


def test_sdk_snapshot_and_a_server_booted_from_it(cloud: RunningCloud, server: str) -> None:
    conn = connect(cloud)
    image = conn.compute.create_server_image(server, "sdk-snap", wait=True)
    assert image.status == "active"
    assert conn.image.get_image(image.id).instance_uuid == server
    clone = osc_json(cloud, "server", "create", "--flavor", "snap.small", "--image", image.id,
                     "--network", "snap-net", "--wait", "snap-clone")  # fmt: skip
    assert clone["status"] == "ACTIVE"
    osc(cloud, "server", "delete", "--wait", "snap-clone")
