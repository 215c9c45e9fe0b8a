"""A real TCG guest (tests/support/guest.py) booted from a volume through the
`openstack` CLI: the storage agent converts the guest's disk image into the
volume's qcow2 file, the compute agent defines the domain with that file as
its root disk (direct kernel boot from the image's kernel and ramdisk), and
the guest reads the disk image's marker from its /dev/vda — the volume's
data, not an overlay on the image. Needs root, qemu and libvirtd, like
test_compute_guest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cloud import RunningCloud, start_cloud
from tests.e2e.test_compute_guest import _network, wait_for
from tests.e2e.test_identity_cli import osc, osc_json
from tests.e2e.test_volume_cli import wait_gone
from tests.support.guest import CMDLINE, DISK_MARKER, MARKER
from tests.support.real_guests import (
    guest_folders,
    require_real_guests,
    tiny_guest,
)

pytestmark = [pytest.mark.e2e, pytest.mark.libvirt, pytest.mark.root]

GUEST_TIMEOUT = 240.0  # a loaded machine boots a TCG guest slowly; no measure here


@pytest.fixture(scope="module")
def real_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    require_real_guests()
    with guest_folders("instances", "volumes") as (instances, volumes):
        running = start_cloud(
            Path(tmp_path_factory.mktemp("cloud")),
            extra_env={
                "STRATA_HOST": "bfv-guest-node",
                "STRATA_COMPUTE_INTERVAL": "0.5",
                "STRATA_COMPUTE_DRIVER": "libvirt",
                "STRATA_COMPUTE_INSTANCES_DIR": str(instances),
                "STRATA_VOLUMES_DIR": str(volumes),
            },
        )
        yield running
        running.stop()


def test_a_real_guest_boots_from_a_volume_made_from_its_image(real_cloud: RunningCloud) -> None:
    cloud = real_cloud
    guest = tiny_guest()
    kernel = osc_json(cloud, "image", "create", "--file", str(guest.kernel), "--disk-format",
                      "aki", "--container-format", "aki", "bfv-kernel")  # fmt: skip
    ramdisk = osc_json(cloud, "image", "create", "--file", str(guest.initrd), "--disk-format",
                       "ari", "--container-format", "ari", "bfv-ramdisk")  # fmt: skip
    osc(cloud, "image", "create", "--file", str(guest.disk), "--disk-format", "raw",
        "--container-format", "bare", "--property", f"kernel_id={kernel['id']}",
        "--property", f"ramdisk_id={ramdisk['id']}",
        "--property", f"os_command_line={CMDLINE}", "bfv-disk")  # fmt: skip
    osc(cloud, "flavor", "create", "--vcpus", "1", "--ram", "256", "--disk", "1", "bfv.tiny")
    _network(cloud, "10.63.0.0/24")
    server = osc_json(cloud, "server", "create", "--flavor", "bfv.tiny", "--image", "bfv-disk",
                      "--boot-from-volume", "1", "--delete-on-termination",
                      "--network", "guest-net", "--wait", "bfv-guest")  # fmt: skip
    assert server["status"] == "ACTIVE"
    [volume] = server["volumes_attached"]
    log = wait_for(
        "the guest's marker on its console",
        lambda: (
            "STRATA-GUEST-READY"
            in (out := osc(cloud, "console", "log", "show", "bfv-guest").stdout)
            and out
        ),
        timeout=GUEST_TIMEOUT,
    )
    assert MARKER in log  # booted by the image's kernel and ramdisk
    # Its root disk holds the image's data: the volume's file, converted.
    assert f"STRATA-DISK: {DISK_MARKER.decode()}" in log
    assert f'"instance-id": "{server["id"]}"' in log
    shown = osc_json(cloud, "volume", "show", volume["id"])
    assert shown["status"] == "in-use"
    assert [a["device"] for a in shown["attachments"]] == ["/dev/vda"]

    osc(cloud, "server", "delete", "--wait", "bfv-guest")
    wait_gone(cloud, "volume", volume["id"])  # delete_on_termination
