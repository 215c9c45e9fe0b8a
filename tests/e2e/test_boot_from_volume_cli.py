"""Boot from volume with the `openstack` CLI and openstacksdk, on a `strata
up` whose compute agent runs libvirt's test driver and whose storage agent
keeps real qcow2 files: `server create --volume`, `--image ...
--boot-from-volume`, `server show` listing the volumes, `server delete
--wait` freeing or deleting them, and the SDK's block_device_mapping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openstack import exceptions

from tests.e2e.cloud import RunningCloud, start_cloud
from tests.e2e.test_identity_cli import osc, osc_json
from tests.e2e.test_identity_sdk import connect
from tests.e2e.test_volume_attach_cli import eventually
from tests.e2e.test_volume_cli import wait_gone, wait_status

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
def names(cloud: RunningCloud, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    disk = Path(tmp_path_factory.mktemp("image")) / "disk.raw"
    disk.write_bytes(b"\0" * 65536)
    image = osc_json(cloud, "image", "create", "--file", str(disk), "--disk-format", "raw",
                     "--container-format", "bare", "--public", "bfv-image")  # fmt: skip
    osc(cloud, "network", "create", "bfv-net")
    osc(cloud, "subnet", "create", "--network", "bfv-net", "--subnet-range", "10.42.0.0/24",
        "bfv-sub")  # fmt: skip
    osc(cloud, "flavor", "create", "--vcpus", "1", "--ram", "128", "--disk", "1", "bfv.small")
    return {"image": image["id"], "flavor": "bfv.small", "network": "bfv-net", "disk": str(disk)}


def volume_ids(server: dict[str, Any]) -> list[str]:
    return [str(v["id"]) for v in server["volumes_attached"]]


def test_server_create_from_an_existing_volume(cloud: RunningCloud, names: dict[str, str]) -> None:
    osc(cloud, "volume", "create", "--size", "1", "--image", "bfv-image", "--bootable",
        "bfv-root")  # fmt: skip
    volume = wait_status(cloud, "volume", "bfv-root", "available")
    assert str(volume["bootable"]).lower() == "true"
    osc(cloud, "server", "create", "--flavor", names["flavor"], "--volume", "bfv-root",
        "--network", names["network"], "--wait", "bfv-vm")  # fmt: skip
    server = osc_json(cloud, "server", "show", "bfv-vm")
    assert server["status"] == "ACTIVE"
    assert volume_ids(server) == [volume["id"]]
    assert "booted from volume" in str(server["image"])
    shown = wait_status(cloud, "volume", "bfv-root", "in-use")
    [attachment] = shown["attachments"]
    assert (attachment["server_id"], attachment["device"]) == (server["id"], "/dev/vda")
    listed = osc_json(cloud, "server", "volume", "list", "bfv-vm")
    assert [(v["Volume ID"], v["Device"]) for v in listed] == [(volume["id"], "/dev/vda")]
    # The root volume cannot be taken away from a running server.
    refused = osc(cloud, "server", "remove", "volume", "bfv-vm", "bfv-root", check=False)
    assert refused.returncode != 0 and "root device" in refused.stderr

    osc(cloud, "server", "delete", "--wait", "bfv-vm")
    # Not delete_on_termination: the volume is left, free for another server.
    freed = wait_status(cloud, "volume", "bfv-root", "available")
    assert freed["attachments"] == []


def test_server_create_boot_from_volume_made_from_an_image(
    cloud: RunningCloud, names: dict[str, str]
) -> None:
    osc(cloud, "server", "create", "--flavor", names["flavor"], "--image", "bfv-image",
        "--boot-from-volume", "1", "--network", names["network"], "--wait",
        "bfv-made")  # fmt: skip
    server = osc_json(cloud, "server", "show", "bfv-made")
    assert server["status"] == "ACTIVE"
    [volume_id] = volume_ids(server)
    volume = osc_json(cloud, "volume", "show", volume_id)
    assert (volume["status"], volume["size"]) == ("in-use", 1)
    assert str(volume["bootable"]).lower() == "true"
    assert volume["volume_image_metadata"]["image_id"] == names["image"]
    osc(cloud, "server", "delete", "--wait", "bfv-made")
    # Not asked to go with the server (the CLI's default): available again.
    wait_status(cloud, "volume", volume_id, "available")
    osc(cloud, "volume", "delete", volume_id)
    wait_gone(cloud, "volume", volume_id)


def test_bad_boot_requests_are_refused_by_nova(cloud: RunningCloud, names: dict[str, str]) -> None:
    osc(cloud, "volume", "create", "--size", "1", "bfv-plain")
    wait_status(cloud, "volume", "bfv-plain", "available")
    refused = osc(cloud, "server", "create", "--flavor", names["flavor"], "--volume",
                  "bfv-plain", "--network", names["network"], "bfv-bad", check=False)  # fmt: skip
    assert refused.returncode != 0 and "is not bootable" in refused.stderr
    assert "BadRequestException: 400" in refused.stderr
    osc(cloud, "image", "create", "--min-disk", "5", "--disk-format", "raw",
        "--container-format", "bare", "--file", names["disk"], "bfv-big")  # fmt: skip
    refused = osc(cloud, "server", "create", "--flavor", names["flavor"], "--image",
                  "bfv-big", "--boot-from-volume", "1", "--network", names["network"],
                  "bfv-bad", check=False)  # fmt: skip
    assert refused.returncode != 0 and "smaller than the minimum size" in refused.stderr
    assert "BadRequestException: 400" in refused.stderr
    assert osc(cloud, "server", "show", "bfv-bad", check=False).returncode != 0


def test_sdk_block_device_mapping_with_delete_on_termination(
    cloud: RunningCloud, names: dict[str, str]
) -> None:
    conn = connect(cloud)
    flavor = conn.compute.find_flavor(names["flavor"])
    network = conn.network.find_network(names["network"])
    assert flavor is not None and network is not None
    server = conn.compute.create_server(
        name="sdk-bfv",
        flavor_id=flavor.id,
        networks=[{"uuid": network.id}],
        block_device_mapping=[
            {
                "uuid": names["image"],
                "source_type": "image",
                "destination_type": "volume",
                "volume_size": 1,
                "boot_index": 0,
                "delete_on_termination": True,
            },
            {
                "source_type": "blank",
                "destination_type": "volume",
                "volume_size": 1,
                "boot_index": -1,
                "delete_on_termination": False,
            },
        ],
    )
    server = conn.compute.wait_for_server(server, status="ACTIVE", wait=60)
    attached = {v["id"]: v["delete_on_termination"] for v in server.attached_volumes}
    assert sorted(attached.values()) == [False, True]
    root = next(k for k, v in attached.items() if v)
    blank = next(k for k, v in attached.items() if not v)
    assert not (server.image or {}).get("id")  # Nova shows "" for a volume-backed server
    attachments = list(conn.compute.volume_attachments(server))
    assert {a.volume_id: a.device for a in attachments} == {root: "/dev/vda", blank: "/dev/vdc"}
    with pytest.raises(exceptions.BadRequestException):
        conn.compute.create_server(
            name="sdk-two-roots",
            flavor_id=flavor.id,
            networks="none",
            block_device_mapping=[
                {"uuid": names["image"], "source_type": "image", "destination_type": "volume",
                 "volume_size": 1, "boot_index": 0},
                {"uuid": blank, "source_type": "volume", "destination_type": "volume",
                 "boot_index": 0},
            ],
        )  # fmt: skip

    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=60)
    # delete_on_termination: the root volume goes; the blank one stays, free.
    eventually(lambda: conn.block_storage.find_volume(root) is None, "root volume deleted")
    left = eventually(
        lambda: (v := conn.block_storage.get_volume(blank)).status == "available" and v,
        "blank volume freed",
    )
    assert left.attachments == []
