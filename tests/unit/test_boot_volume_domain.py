"""Boot from volume without storage or libvirt: the server's record of its
volumes and the wait for them, a volume reserved while being created, and
the domain a volume-backed server is defined with."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from domain.compute import states as cs
from domain.compute.servers import Server
from domain.errors import Conflict, InvalidInput
from domain.volume import states as s
from infra.virt.domain_xml import render_domain, volume_disks
from infra.virt.qemu_img import DiskError
from tests.unit.test_volume_domain import volume
from workers.compute import plan


def server(image_id: str = "") -> Server:
    flavor = {"id": "1", "name": "t", "vcpus": 1, "ram": 512, "disk": 10, "ephemeral": 2}
    return Server(
        project_id="p", user_id="u", name="vm", description=None, flavor=flavor,
        image_id=image_id, key_name=None, key_data=None, user_data=None, metadata={},
        availability_zone=None, security_groups=["default"], tags=[], reservation_id="r-1",
        launch_index=0, config_drive=False,
    )  # fmt: skip


def test_a_volume_backed_server_claims_no_root_disk() -> None:
    assert server("").resources["disk_gb"] == 2
    assert server("img").resources["disk_gb"] == 12


def test_the_boot_waits_for_every_volume_made_for_it() -> None:
    vm = server()
    vm.schedule("h", "nova")
    vm.attach_volume("v1", "a1", 0, True, ready=False)
    vm.attach_volume("v2", "a2", -1, False, ready=False)
    vm.attach_volume("v3", "a3", 1, False, ready=True)
    with pytest.raises(InvalidInput):
        vm.attach_volume("v1", "a9")
    vm.wait_for_volumes()
    assert vm.task_state == cs.BLOCK_DEVICE_MAPPING and vm.status == "BUILD"
    vm.volume_ready("v1")
    vm.volume_ready("v1")  # repeated: nothing new
    assert vm.task_state == cs.BLOCK_DEVICE_MAPPING
    vm.volume_ready("v2")
    assert vm.task_state == cs.SPAWNING
    assert len(vm.pending_events) == 8  # created, scheduled, 3 attached, waiting, 2 ready
    # Detaching a stale attachment changes nothing; the right one removes it.
    vm.volume_detached("v3", "other")
    assert "v3" in vm.volumes
    vm.volume_detached("v3", "a3")
    assert sorted(vm.volumes) == ["v1", "v2"]


def test_no_wait_when_every_volume_exists() -> None:
    vm = server()
    vm.schedule("h", "nova")
    vm.attach_volume("v1", "a1", 0, ready=True)
    vm.wait_for_volumes()
    assert vm.task_state == cs.SPAWNING


def test_a_deleted_server_takes_no_volume() -> None:
    vm = server()
    vm.delete()
    with pytest.raises(Conflict):
        vm.attach_volume("v1", "a1")


def test_a_volume_reserved_while_created_is_reserved_once_made() -> None:
    v = volume()
    with pytest.raises(Conflict):
        v.reserve("a1", "srv")  # an ordinary attach waits for the volume
    v.reserve("a1", "srv", while_creating=True)
    assert v.status == s.CREATING
    v.provisioned()
    assert v.status == s.RESERVED
    v.remove_attachment("a1")
    assert v.status == s.AVAILABLE


def test_discard_with_the_server_even_while_creating() -> None:
    v = volume()
    assert v.discard() and v.status == s.DELETING
    kept = volume()
    kept.provisioned()
    kept.add_snapshot("snap")
    assert not kept.discard() and kept.status == s.AVAILABLE


def _volume_server(devices: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": "00000000-0000-4000-8000-000000000001", "name": "vm", "image_id": "",
            "volume_backed": True, "block_devices": devices, "ports": [],
            "flavor": {"vcpus": 1, "ram": 256}}  # fmt: skip


def _device(volume_id: str, boot_index: int, **meta: str) -> dict[str, Any]:
    return {"volume_id": volume_id, "attachment_id": "a", "boot_index": boot_index,
            "device_path": f"/vols/volume-{volume_id}.qcow2", "format": "qcow2",
            "image_metadata": meta}  # fmt: skip


def test_a_volume_backed_domain_boots_its_volume_with_the_images_kernel() -> None:
    images: dict[str, dict[str, Any]] = {"k": {"properties": {}}, "r": {"properties": {}}}
    root = _device("root", 0, kernel_id="k", ramdisk_id="r", os_command_line="console=ttyS0")
    vm = _volume_server([root, _device("data", -1)])
    boot = plan.boot_images(vm, images.get)
    assert (boot.disk, boot.kernel, boot.ramdisk, boot.cmdline) == ("", "k", "r", "console=ttyS0")
    spec = plan.domain_spec(
        vm, "qemu", Path(root["device_path"]), Path("/seed.iso"), Path("/k"), Path("/r"),
        boot.cmdline, Path("/console.log"),
    )  # fmt: skip
    xml = render_domain(spec)
    assert [(d.volume_id, d.dev) for d in volume_disks(xml)] == [("root", "vda"), ("data", "vdc")]
    sources = [d.get("file") for d in ET.fromstring(xml).findall("devices/disk/source")]
    assert sources == ["/vols/volume-root.qcow2", "/seed.iso", "/vols/volume-data.qcow2"]
    assert ET.fromstring(xml).findtext("os/kernel") == "/k"


def test_a_volume_backed_server_without_its_boot_volume_is_not_defined() -> None:
    with pytest.raises(DiskError):
        plan.root_volume(_volume_server([_device("data", -1)]))
    missing = _volume_server([_device("root", 0, kernel_id="gone")])
    with pytest.raises(DiskError, match="boot volume root names gone"):
        none: dict[str, dict[str, Any]] = {}
        plan.boot_images(missing, none.get)
