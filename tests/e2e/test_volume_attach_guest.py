"""A volume hot-plugged into a real TCG guest (tests/support/guest.py) through
the `openstack` CLI: libvirt's live definition gains the virtio disk at once,
and after a hard reboot the guest's init lists it among its block devices on
the serial console (the disk was plugged for the running guest and kept in
its definition). Needs root, qemu and libvirtd, like test_compute_guest."""

from __future__ import annotations

import os
import shutil
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cloud import RunningCloud, start_cloud
from tests.e2e.test_compute_guest import _network, libvirt_python, missing, wait_for
from tests.e2e.test_identity_cli import osc, osc_json
from tests.e2e.test_volume_cli import wait_status
from tests.support.guest import CMDLINE, GuestUnavailable, build_guest

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def real_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    libvirt = libvirt_python()
    if os.geteuid() != 0:
        missing("a real guest needs root (qemu:///system, /var/lib)")
    for tool in ("qemu-system-x86_64", "qemu-img"):
        if shutil.which(tool) is None:
            missing(f"{tool} is not installed")
    try:
        libvirt.open("qemu:///system").close()
    except libvirt.libvirtError as error:
        missing(f"libvirtd does not answer on qemu:///system: {error}")
    # qemu runs as libvirt-qemu and must reach the disks and the volume files:
    # not under pytest's private (0700) temporary folders.
    root = Path("/var/lib/strata-test-guest") / uuid.uuid4().hex[:12]
    instances, volumes = root / "instances", root / "volumes"
    for folder in (instances, volumes):
        folder.mkdir(parents=True)
    for folder in (root.parent, root, instances, volumes):
        folder.chmod(0o755)
    running = start_cloud(
        Path(tmp_path_factory.mktemp("cloud")),
        extra_env={
            "STRATA_HOST": "volume-guest-node",
            "STRATA_COMPUTE_INTERVAL": "0.5",
            "STRATA_COMPUTE_DRIVER": "libvirt",
            "STRATA_COMPUTE_INSTANCES_DIR": str(instances),
            "STRATA_VOLUMES_DIR": str(volumes),
        },
    )
    yield running
    running.stop()
    shutil.rmtree(root, ignore_errors=True)


def _live_disks(server_id: str) -> list[str]:
    libvirt = libvirt_python()
    conn = libvirt.open("qemu:///system")
    try:
        xml = conn.lookupByName(f"strata-{server_id}").XMLDesc(0)
    finally:
        conn.close()
    return [str(t.get("dev")) for t in ET.fromstring(xml).findall("devices/disk/target")]


@pytest.mark.libvirt
@pytest.mark.root
def test_a_volume_appears_in_a_real_guest(real_cloud: RunningCloud) -> None:
    cloud = real_cloud
    try:
        guest = build_guest()
    except GuestUnavailable as error:
        missing(f"cannot build the test guest: {error}")
    kernel = osc_json(cloud, "image", "create", "--file", str(guest.kernel), "--disk-format",
                      "aki", "--container-format", "aki", "vg-kernel")  # fmt: skip
    ramdisk = osc_json(cloud, "image", "create", "--file", str(guest.initrd), "--disk-format",
                       "ari", "--container-format", "ari", "vg-ramdisk")  # fmt: skip
    osc(cloud, "image", "create", "--file", str(guest.disk), "--disk-format", "raw",
        "--container-format", "bare", "--property", f"kernel_id={kernel['id']}",
        "--property", f"ramdisk_id={ramdisk['id']}",
        "--property", f"os_command_line={CMDLINE}", "vg-disk")  # fmt: skip
    osc(cloud, "flavor", "create", "--vcpus", "1", "--ram", "256", "--disk", "1", "vg.tiny")
    _network(cloud, "10.63.0.0/24")
    server = osc_json(cloud, "server", "create", "--flavor", "vg.tiny", "--image", "vg-disk",
                      "--network", "guest-net", "--wait", "vg")  # fmt: skip

    def console() -> str:
        return osc(cloud, "console", "log", "show", "vg").stdout

    wait_for("the guest ready", lambda: "STRATA-GUEST-READY" in console(), timeout=180)
    booted = console()
    assert "STRATA-BLOCK-DEVICES: vda vdb" in booted and "vdc" not in booted

    osc(cloud, "volume", "create", "--size", "1", "vg-vol")
    wait_status(cloud, "volume", "vg-vol", "available")
    started = time.monotonic()
    osc(cloud, "server", "add", "volume", "vg", "vg-vol")
    shown = wait_status(cloud, "volume", "vg-vol", "in-use")
    print(f"attached to the running guest in {time.monotonic() - started:.1f}s")
    assert shown["attachments"][0]["device"] == "/dev/vdc"
    assert "vdc" in _live_disks(server["id"])  # plugged into the running guest

    osc(cloud, "server", "reboot", "--hard", "--wait", "vg")
    wait_for(
        "the volume among the guest's block devices after a reboot",
        lambda: "STRATA-BLOCK-DEVICES: vda vdb vdc" in console(),
        timeout=180,
    )

    osc(cloud, "server", "remove", "volume", "vg", "vg-vol")
    wait_status(cloud, "volume", "vg-vol", "available")
    osc(cloud, "server", "delete", "--wait", "vg")
    osc(cloud, "volume", "delete", "vg-vol")
