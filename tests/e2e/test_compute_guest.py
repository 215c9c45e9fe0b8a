"""`strata up` with its compute agent, driven by the `openstack` CLI.

On libvirt's test driver: a server goes BUILD → ACTIVE by itself, stops,
starts, reboots, shows its console and is deleted with everything it had on
the host. On real libvirt with TCG: a tiny Debian-kernel guest
(tests/support/guest.py) uploaded as kernel, ramdisk and disk images boots
by direct kernel boot and prints a marker, its disks and its seed's
instance id on the serial console, which `console log show` returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cloud import RunningCloud, start_cloud
from tests.e2e.test_identity_cli import osc, osc_json
from tests.support.guest import CMDLINE, DISK_MARKER, MARKER
from tests.support.real_guests import (
    guest_folders,
    libvirt_python,
    require_real_guests,
    tiny_guest,
)

pytestmark = pytest.mark.e2e


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _status(cloud: RunningCloud, name: str) -> str:
    return str(osc_json(cloud, "server", "show", name)["status"])


def _network(cloud: RunningCloud, cidr: str) -> None:
    osc(cloud, "network", "create", "guest-net")
    osc(cloud, "subnet", "create", "--network", "guest-net", "--subnet-range", cidr, "guest-sub")


def _start(tmp: Path, host: str, **env: str) -> RunningCloud:
    extra = {"STRATA_HOST": host, "STRATA_COMPUTE_INTERVAL": "0.5", **env}
    return start_cloud(tmp, extra_env=extra)


@pytest.fixture(scope="module")
def test_driver_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    libvirt_python()
    running = _start(
        tmp_path_factory.mktemp("cloud"), "guest-test-node", STRATA_COMPUTE_DRIVER="test"
    )
    yield running
    running.stop()


def test_server_lifecycle_on_the_test_driver(
    test_driver_cloud: RunningCloud, tmp_path: Path
) -> None:
    cloud = test_driver_cloud
    (hypervisor,) = osc_json(cloud, "hypervisor", "list", "--long")
    assert hypervisor["Hypervisor Hostname"] == "guest-test-node"
    assert hypervisor["Hypervisor Type"] == "test"
    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"\0" * 65536)
    osc(cloud, "image", "create", "--file", str(disk), "--disk-format", "raw",
        "--container-format", "bare", "--public", "tiny")  # fmt: skip
    osc(cloud, "flavor", "create", "--vcpus", "1", "--ram", "128", "--disk", "1", "m1.tiny")
    _network(cloud, "10.61.0.0/24")
    server = osc_json(cloud, "server", "create", "--flavor", "m1.tiny", "--image", "tiny",
                      "--network", "guest-net", "--wait", "vm1")  # fmt: skip
    assert server["status"] == "ACTIVE" and server["OS-EXT-SRV-ATTR:host"] == "guest-test-node"
    assert server["OS-EXT-STS:power_state"] in ("Running", 1)
    osc(cloud, "server", "stop", "vm1")
    wait_for("SHUTOFF", lambda: _status(cloud, "vm1") == "SHUTOFF")
    osc(cloud, "server", "start", "vm1")
    wait_for("ACTIVE after start", lambda: _status(cloud, "vm1") == "ACTIVE")
    osc(cloud, "server", "reboot", "--hard", "--wait", "vm1")
    assert _status(cloud, "vm1") == "ACTIVE"
    log = wait_for(
        "console output",
        lambda: (
            "rebooted (HARD)" in (out := osc(cloud, "console", "log", "show", "vm1").stdout) and out
        ),
    )
    assert "[strata test driver] domain started" in log and "stopped" in log
    osc(cloud, "server", "delete", "--wait", "vm1")
    assert osc_json(cloud, "server", "list") == []
    instances = cloud.data_dir / "instances"
    wait_for("the server's folder removed", lambda: not (instances / server["id"]).exists())


@pytest.fixture(scope="module")
def real_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    require_real_guests()
    with guest_folders("instances") as (instances,):
        running = _start(
            tmp_path_factory.mktemp("cloud"),
            "guest-real-node",
            STRATA_COMPUTE_DRIVER="libvirt",
            STRATA_COMPUTE_INSTANCES_DIR=str(instances),
        )
        yield running
        running.stop()


@pytest.mark.libvirt
@pytest.mark.root
def test_a_real_guest_boots_and_prints_its_marker(real_cloud: RunningCloud) -> None:
    cloud = real_cloud
    guest = tiny_guest()
    # (`hypervisor show` also asks for os-aggregates, which Strata does not serve.)
    (hypervisor,) = osc_json(cloud, "hypervisor", "list", "--long")
    assert hypervisor["Hypervisor Type"] == "QEMU"
    assert "compute agent  libvirt qemu:///system, TCG" in cloud.log.read_text()
    kernel = osc_json(cloud, "image", "create", "--file", str(guest.kernel), "--disk-format",
                      "aki", "--container-format", "aki", "guest-kernel")  # fmt: skip
    ramdisk = osc_json(cloud, "image", "create", "--file", str(guest.initrd), "--disk-format",
                       "ari", "--container-format", "ari", "guest-ramdisk")  # fmt: skip
    osc(cloud, "image", "create", "--file", str(guest.disk), "--disk-format", "raw",
        "--container-format", "bare", "--property", f"kernel_id={kernel['id']}",
        "--property", f"ramdisk_id={ramdisk['id']}",
        "--property", f"os_command_line={CMDLINE}", "guest-disk")  # fmt: skip
    osc(cloud, "flavor", "create", "--vcpus", "1", "--ram", "256", "--disk", "1", "g.tiny")
    _network(cloud, "10.62.0.0/24")
    started = time.monotonic()
    server = osc_json(cloud, "server", "create", "--flavor", "g.tiny", "--image", "guest-disk",
                      "--network", "guest-net", "--wait", "guest")  # fmt: skip
    assert server["status"] == "ACTIVE"
    log = wait_for(
        "the guest's marker on its console",
        lambda: (
            "STRATA-GUEST-READY" in (out := osc(cloud, "console", "log", "show", "guest").stdout)
            and out
        ),
        timeout=180,
    )
    print(f"guest ACTIVE and ready after {time.monotonic() - started:.1f}s")
    assert MARKER in log
    assert "STRATA-BLOCK-DEVICES: vda vdb" in log
    assert f"STRATA-DISK: {DISK_MARKER.decode()}" in log
    assert f'"instance-id": "{server["id"]}"' in log  # read from its NoCloud seed
    assert "eth0" in log  # its port's NIC
    osc(cloud, "server", "delete", "--wait", "guest")
    name = f"strata-{server['id']}"
    wait_for("the domain removed", lambda: name not in _domains(), timeout=30)


def _domains() -> list[str]:
    libvirt = libvirt_python()
    conn = libvirt.open("qemu:///system")
    try:
        return [d.name() for d in conn.listAllDomains()]
    finally:
        conn.close()
