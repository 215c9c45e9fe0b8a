"""What the compute agent writes for a guest: its libvirt domain XML and the
NoCloud seed, from a server's desired state (pure rendering, no libvirt)."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from infra.virt.domain_xml import (
    DomainSpec,
    Nic,
    domain_name,
    host_of,
    render_domain,
    server_of,
)
from infra.virt.qemu_img import DiskError
from infra.virt.seed import SeedData, render_seed
from workers.compute import plan
from workers.network import names

SERVER_ID = "0b7cf5a4-51a1-4ad5-9d6f-2d2f6f0f6a11"
PORT_ID = "9a3e0f7e-2f53-4a6f-8a8e-7c1f7b1b3c55"


def _server(**changes: Any) -> dict[str, Any]:
    server: dict[str, Any] = {
        "id": SERVER_ID,
        "name": "web-1",
        "hostname": "web-1",
        "flavor": {"vcpus": 2, "ram": 256, "disk": 1},
        "image_id": "img",
        "key_data": "ssh-ed25519 AAAA alice@laptop",
        "user_data": base64.b64encode(b"#!/bin/sh\necho hi\n").decode(),
        "metadata": {"role": "web"},
        "ports": [{"id": PORT_ID, "mac_address": "fa:16:3e:01:02:03"}],
    }
    server.update(changes)
    return server


def _spec(**changes: Any) -> DomainSpec:
    base: dict[str, Any] = {
        "server_id": SERVER_ID,
        "title": "web-1",
        "domain_type": "qemu",
        "vcpus": 2,
        "memory_mb": 256,
        "disk": Path("/i/disk"),
        "seed": Path("/i/seed.iso"),
        "nics": (Nic("tap9a3e0f7e-2f", "fa:16:3e:01:02:03"),),
        "console_log": Path("/i/console.log"),
    }
    base.update(changes)
    return DomainSpec(**base)


def test_domain_has_disks_nic_and_serial_log() -> None:
    xml = ET.fromstring(render_domain(_spec()))
    assert xml.get("type") == "qemu"
    assert xml.findtext("name") == domain_name(SERVER_ID) == "strata-" + SERVER_ID
    assert xml.findtext("uuid") == SERVER_ID
    assert xml.find("memory").text == "256" and xml.findtext("vcpu") == "2"  # type: ignore[union-attr]
    disks = xml.findall("devices/disk")
    assert [d.find("target").get("dev") for d in disks] == ["vda", "vdb"]  # type: ignore[union-attr]
    assert disks[0].find("driver").get("type") == "qcow2"  # type: ignore[union-attr]
    assert disks[1].find("readonly") is not None
    nic = xml.find("devices/interface")
    assert nic is not None and nic.get("type") == "ethernet"
    assert nic.find("target").get("dev") == "tap9a3e0f7e-2f"  # type: ignore[union-attr]
    assert nic.find("mac").get("address") == "fa:16:3e:01:02:03"  # type: ignore[union-attr]
    serial = xml.find("devices/serial")
    assert serial is not None and serial.get("type") == "file"
    assert serial.find("source").get("path") == "/i/console.log"  # type: ignore[union-attr]
    assert xml.find("os/boot").get("dev") == "hd"  # type: ignore[union-attr]
    assert xml.find("cpu") is None  # TCG: qemu's default CPU model


def test_direct_kernel_boot_and_kvm() -> None:
    spec = _spec(
        domain_type="kvm",
        kernel=Path("/b/k"),
        initrd=Path("/b/r"),
        cmdline="console=ttyS0",
    )
    xml = ET.fromstring(render_domain(spec))
    assert xml.findtext("os/kernel") == "/b/k" and xml.findtext("os/initrd") == "/b/r"
    assert xml.findtext("os/cmdline") == "console=ttyS0"
    assert xml.find("os/boot") is None
    assert xml.find("cpu").get("mode") == "host-passthrough"  # type: ignore[union-attr]


def test_only_prefixed_names_belong_to_strata() -> None:
    assert server_of("strata-abc") == "abc"
    assert server_of("test") is None and server_of("instance-0001") is None


def test_the_owning_host_is_written_into_the_domain() -> None:
    assert host_of(render_domain(_spec(host="node-7"))) == "node-7"
    assert host_of("<domain><name>strata-x</name></domain>") is None


def test_seed_carries_identity_key_user_data_and_macs() -> None:
    data = plan.seed_data(_server())
    files = render_seed(data)
    meta = json.loads(files["meta-data"])
    assert meta["instance-id"] == SERVER_ID and meta["local-hostname"] == "web-1"
    assert meta["public-keys"] == ["ssh-ed25519 AAAA alice@laptop"]
    assert meta["meta"] == {"role": "web"}
    assert files["user-data"] == b"#!/bin/sh\necho hi\n"
    network = json.loads(files["network-config"])
    assert network["config"][0]["mac_address"] == "fa:16:3e:01:02:03"


def test_seed_without_user_data_or_key() -> None:
    files = render_seed(SeedData(instance_id="i", hostname="h"))
    assert files["user-data"].startswith(b"#cloud-config")
    assert json.loads(files["meta-data"])["public-keys"] == []


def test_nics_use_the_network_agents_tap_names() -> None:
    (nic,) = plan.nics(_server())
    assert nic.tap == names.tap(PORT_ID) and len(nic.tap) <= 15


def test_boot_images_follow_kernel_and_ramdisk_properties() -> None:
    images: dict[str, dict[str, Any]] = {
        "img": {"properties": {"kernel_id": "k", "ramdisk_id": "r"}},
        "k": {"properties": {}},
        "r": {"properties": {}},
    }
    boot = plan.boot_images(_server(), images.get)
    assert (boot.disk, boot.kernel, boot.ramdisk) == ("img", "k", "r")
    assert "console=ttyS0" in boot.cmdline
    images["img"]["properties"]["os_command_line"] = "quiet console=ttyS0"
    assert plan.boot_images(_server(), images.get).cmdline == "quiet console=ttyS0"
    plain_images: dict[str, dict[str, Any]] = {"img": {"properties": {}}}
    plain = plan.boot_images(_server(), plain_images.get)
    assert (plain.kernel, plain.cmdline) == (None, "")


def test_boot_images_refuse_a_missing_kernel() -> None:
    images: dict[str, dict[str, Any]] = {"img": {"properties": {"kernel_id": "gone"}}}
    with pytest.raises(DiskError, match="gone"):
        plan.boot_images(_server(), images.get)
