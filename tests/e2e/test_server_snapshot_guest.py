"""A live snapshot of a real TCG guest, and a second guest booted from it.

The tiny guest (tests/support/guest.py) boots by direct kernel boot from a
disk image naming its kernel and ramdisk. Snapshotted while it runs (qemu-img
reads the locked disk with force-share: crash-consistent), the image must
carry the disk's bytes and the kernel, ramdisk and command line with it, so
a server booted from the snapshot prints the same disk marker.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.cloud import RunningCloud, start_cloud
from tests.e2e.test_compute_guest import wait_for
from tests.e2e.test_identity_cli import osc, osc_json
from tests.support.guest import CMDLINE, DISK_MARKER
from tests.support.real_guests import (
    guest_folders,
    require_real_guests,
    tiny_guest,
)

pytestmark = [pytest.mark.e2e, pytest.mark.libvirt, pytest.mark.root]


@pytest.fixture(scope="module")
def real_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    require_real_guests()
    with guest_folders("instances") as (instances,):
        extra = {
            "STRATA_HOST": "snapshot-real-node",
            "STRATA_COMPUTE_INTERVAL": "0.5",
            "STRATA_COMPUTE_DRIVER": "libvirt",
            "STRATA_COMPUTE_INSTANCES_DIR": str(instances),
        }
        running = start_cloud(tmp_path_factory.mktemp("cloud"), extra_env=extra)
        yield running
        running.stop()


def _console_shows(cloud: RunningCloud, name: str, text: str) -> str:
    return str(
        wait_for(
            f"{text} on the console of {name}",
            lambda: text in (out := osc(cloud, "console", "log", "show", name).stdout) and out,
            timeout=180,
        )
    )


def test_a_running_guest_snapshot_boots_again(real_cloud: RunningCloud) -> None:
    cloud = real_cloud
    guest = tiny_guest()
    kernel = osc_json(cloud, "image", "create", "--file", str(guest.kernel), "--disk-format",
                      "aki", "--container-format", "aki", "snap-kernel")  # fmt: skip
    ramdisk = osc_json(cloud, "image", "create", "--file", str(guest.initrd), "--disk-format",
                       "ari", "--container-format", "ari", "snap-ramdisk")  # fmt: skip
    osc(cloud, "image", "create", "--file", str(guest.disk), "--disk-format", "raw",
        "--container-format", "bare", "--property", f"kernel_id={kernel['id']}",
        "--property", f"ramdisk_id={ramdisk['id']}",
        "--property", f"os_command_line={CMDLINE}", "snap-guest-disk")  # fmt: skip
    osc(cloud, "flavor", "create", "--vcpus", "1", "--ram", "256", "--disk", "1", "s.tiny")
    osc(cloud, "network", "create", "snap-guest-net")
    osc(cloud, "subnet", "create", "--network", "snap-guest-net", "--subnet-range",
        "10.63.0.0/24", "snap-guest-sub")  # fmt: skip
    osc(cloud, "server", "create", "--flavor", "s.tiny", "--image", "snap-guest-disk",
        "--network", "snap-guest-net", "--wait", "source")  # fmt: skip
    _console_shows(cloud, "source", "STRATA-GUEST-READY")

    made = osc_json(cloud, "server", "image", "create", "--wait", "--name", "live-snap",
                    "source")  # fmt: skip
    image = osc_json(cloud, "image", "show", made["id"])
    assert image["status"] == "active" and image["disk_format"] == "qcow2"
    assert image["properties"]["kernel_id"] == kernel["id"]
    assert image["properties"]["os_command_line"] == CMDLINE
    assert osc_json(cloud, "server", "show", "source")["status"] == "ACTIVE"

    clone = osc_json(cloud, "server", "create", "--flavor", "s.tiny", "--image", made["id"],
                     "--network", "snap-guest-net", "--wait", "clone")  # fmt: skip
    log = _console_shows(cloud, "clone", "STRATA-GUEST-READY")
    assert f"STRATA-DISK: {DISK_MARKER.decode()}" in log
    assert f'"instance-id": "{clone["id"]}"' in log
    for name in ("clone", "source"):
        osc(cloud, "server", "delete", "--wait", name)
