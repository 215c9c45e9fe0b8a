"""Volumes in real TCG guests (tests/support/guest.py), through the
`openstack` CLI. Needs root, qemu and libvirtd, like test_compute_guest.

- Hot-plug: libvirt's live definition gains the virtio disk at once, the
  running guest notices it without a reboot and writes a data marker on
  it, and after a hard reboot it lists the disk among its block devices
  and reads the same marker back (the disk was kept in its definition).
- Re-attach: a volume attached to one guest, written by it, detached and
  attached to a second guest shows that guest the token the first wrote.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cloud import RunningCloud, start_cloud
from tests.e2e.test_compute_guest import _network, wait_for
from tests.e2e.test_identity_cli import osc, osc_json
from tests.e2e.test_volume_cli import wait_status
from tests.support.guest import (
    CMDLINE,
    DISK_ADDED,
    DISK_REMOVED,
    disk_data,
)
from tests.support.real_guests import (
    guest_folders,
    libvirt_python,
    require_real_guests,
    tiny_guest,
)

pytestmark = [pytest.mark.e2e, pytest.mark.libvirt, pytest.mark.root]

IMAGE, FLAVOR = "vg-disk", "vg.tiny"
# A TCG guest boots in seconds on an idle machine; a loaded one (other
# guests, other tests) takes far longer, and a timeout here is no measure.
GUEST_TIMEOUT = 240.0


@pytest.fixture(scope="module")
def real_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    require_real_guests()
    guest = tiny_guest()
    with guest_folders("instances", "volumes") as (instances, volumes):
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
        try:
            kernel = osc_json(running, "image", "create", "--file", str(guest.kernel),
                              "--disk-format", "aki", "--container-format", "aki", "vg-kernel")  # fmt: skip
            ramdisk = osc_json(running, "image", "create", "--file", str(guest.initrd),
                               "--disk-format", "ari", "--container-format", "ari", "vg-ramdisk")  # fmt: skip
            osc(running, "image", "create", "--file", str(guest.disk), "--disk-format", "raw",
                "--container-format", "bare", "--property", f"kernel_id={kernel['id']}",
                "--property", f"ramdisk_id={ramdisk['id']}",
                "--property", f"os_command_line={CMDLINE}", IMAGE)  # fmt: skip
            osc(running, "flavor", "create", "--vcpus", "1", "--ram", "256", "--disk", "1", FLAVOR)
            _network(running, "10.63.0.0/24")
            yield running
        finally:
            running.stop()


def _live_disks(server_id: str) -> list[str]:
    libvirt = libvirt_python()
    conn = libvirt.open("qemu:///system")
    try:
        xml = conn.lookupByName(f"strata-{server_id}").XMLDesc(0)
    finally:
        conn.close()
    return [str(t.get("dev")) for t in ET.fromstring(xml).findall("devices/disk/target")]


def _console(cloud: RunningCloud, server: str) -> str:
    return osc(cloud, "console", "log", "show", server).stdout


def _wait_ready(cloud: RunningCloud, name: str) -> None:
    wait_for(
        f"{name} ACTIVE",
        lambda: osc_json(cloud, "server", "show", name)["status"] == "ACTIVE",
        timeout=GUEST_TIMEOUT,
    )
    wait_for(
        f"{name} ready",
        lambda: "STRATA-GUEST-READY" in _console(cloud, name),
        timeout=GUEST_TIMEOUT,
    )


def _boot(cloud: RunningCloud, *names: str) -> dict[str, dict[str, object]]:
    """Servers booted together (one TCG boot hides behind the other), ready."""
    create = ["server", "create", "--flavor", FLAVOR, "--image", IMAGE, "--network", "guest-net"]
    created = {name: osc_json(cloud, *create, name) for name in names}
    for name in names:
        _wait_ready(cloud, name)
    return created


def _token(cloud: RunningCloud, server: str, dev: str, verb: str) -> str:
    """The one token `server` says it `verb` ("wrote"/"found") on `dev`."""
    tokens = wait_for(
        f"{server} to say which token it {verb} on {dev}",
        lambda: disk_data(_console(cloud, server), dev, verb),
        timeout=GUEST_TIMEOUT,
    )
    assert len(tokens) == 1, tokens
    return str(tokens[0])


def test_a_volume_appears_in_a_real_guest(real_cloud: RunningCloud) -> None:
    cloud = real_cloud
    server = _boot(cloud, "vg")["vg"]
    booted = _console(cloud, "vg")
    assert "STRATA-BLOCK-DEVICES: vda vdb" in booted and "vdc" not in booted

    osc(cloud, "volume", "create", "--size", "1", "vg-vol")
    wait_status(cloud, "volume", "vg-vol", "available")
    started = time.monotonic()
    osc(cloud, "server", "add", "volume", "vg", "vg-vol")
    shown = wait_status(cloud, "volume", "vg-vol", "in-use")
    print(f"attached to the running guest in {time.monotonic() - started:.1f}s")
    assert shown["attachments"][0]["device"] == "/dev/vdc"
    assert "vdc" in _live_disks(str(server["id"]))  # plugged into the running guest
    # The running guest saw it (no reboot) and marked it: a blank volume.
    written = _token(cloud, "vg", "vdc", "wrote")
    assert f"{DISK_ADDED}: vdc serial={shown['id'][:20]}" in _console(cloud, "vg")

    osc(cloud, "server", "reboot", "--hard", "--wait", "vg")
    wait_for(
        "the volume among the guest's block devices after a reboot",
        lambda: "STRATA-BLOCK-DEVICES: vda vdb vdc" in _console(cloud, "vg"),
        timeout=GUEST_TIMEOUT,
    )
    assert _token(cloud, "vg", "vdc", "found") == written  # fsynced before the power cut

    osc(cloud, "server", "remove", "volume", "vg", "vg-vol")
    wait_status(cloud, "volume", "vg-vol", "available")
    osc(cloud, "server", "delete", "--wait", "vg")
    osc(cloud, "volume", "delete", "vg-vol")


def test_data_written_by_one_guest_is_read_by_another_after_reattach(
    real_cloud: RunningCloud,
) -> None:
    cloud = real_cloud
    _boot(cloud, "writer", "reader")
    osc(cloud, "volume", "create", "--size", "1", "shared-vol")
    wait_status(cloud, "volume", "shared-vol", "available")

    osc(cloud, "server", "add", "volume", "writer", "shared-vol")
    shown = wait_status(cloud, "volume", "shared-vol", "in-use")
    first = str(shown["attachments"][0]["device"]).removeprefix("/dev/")
    written = _token(cloud, "writer", first, "wrote")

    # As a user would: detach, wait for `available`, attach elsewhere.
    osc(cloud, "server", "remove", "volume", "writer", "shared-vol")
    wait_status(cloud, "volume", "shared-vol", "available")
    osc(cloud, "server", "add", "volume", "reader", "shared-vol")
    shown = wait_status(cloud, "volume", "shared-vol", "in-use")
    (attachment,) = shown["attachments"]
    assert attachment["server_id"] == osc_json(cloud, "server", "show", "reader")["id"]
    dev = str(attachment["device"]).removeprefix("/dev/")
    assert _token(cloud, "reader", dev, "found") == written
    assert disk_data(_console(cloud, "reader"), dev, "wrote") == []
    # The writer's guest let go of the disk when it was unplugged.
    wait_for(
        "the writer's guest to see its disk go",
        lambda: f"{DISK_REMOVED}: {first}" in _console(cloud, "writer"),
        timeout=60,
    )

    osc(cloud, "server", "remove", "volume", "reader", "shared-vol")
    wait_status(cloud, "volume", "shared-vol", "available")
    osc(cloud, "server", "delete", "--wait", "writer", "reader")
    osc(cloud, "volume", "delete", "shared-vol")
