"""The KVM probe on this machine: its verdict must match an independent,
direct check (does a stock Debian kernel print its banner under KVM?), its
firmware must be what its source says, and the agent's choice follows it.
Here /dev/kvm exists but cannot boot stock kernels, so TCG is chosen."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from infra.settings import Settings
from infra.virt.hypervisor import TEST_URI
from infra.virt.kvm_probe import KVM_DEVICE, PROBE_SOURCE, QEMU, Verdict, probe_kvm, probe_rom
from infra.virt.kvm_probe import run_probe as run_firmware
from projections.compute.queries import ComputeQueries
from runtime.cloud import build_cloud
from runtime.compute_agent import DriverChoice, build_agent, choose_accel
from tests.integration.test_compute_agent_world import needs_libvirt_python
from tests.support.guest import GuestUnavailable, build_guest

BANNER = b"Linux version"
KERNEL_TIMEOUT = 30.0  # a kernel that boots prints its banner within a second or two


def qemu() -> str:
    binary = shutil.which(QEMU)
    if binary is None:
        pytest.skip(f"{QEMU} is not installed")
    return binary


def stock_kernel_boots_under_kvm(tmp_path: Path) -> bool:
    """The direct check: boot the Debian cloud kernel the guest tests use
    and wait for its banner on the serial console."""
    try:
        guest = build_guest()
    except GuestUnavailable as error:
        pytest.skip(f"no stock kernel to boot: {error}")
    console = tmp_path / "console.log"
    command = [
        qemu(),
        "-accel",
        "kvm",
        "-machine",
        "pc",
        "-m",
        "256",
        "-nodefaults",
        "-display",
        "none",
        "-monitor",
        "none",
        "-no-reboot",
        "-serial",
        f"file:{console}",
        "-kernel",
        str(guest.kernel),
        "-append",
        "console=ttyS0 panic=-1",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + KERNEL_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            if console.exists() and BANNER in console.read_bytes():
                return True
            time.sleep(0.2)
        return console.exists() and BANNER in console.read_bytes()
    finally:
        process.kill()
        process.wait()


def needs_kvm_device() -> None:
    if not os.access(KVM_DEVICE, os.R_OK | os.W_OK):
        pytest.skip(f"{KVM_DEVICE} is not usable here: nothing to probe")


def test_the_verdict_matches_booting_a_stock_kernel(tmp_path: Path) -> None:
    needs_kvm_device()
    verdict = probe_kvm(qemu=qemu())
    assert verdict.works == stock_kernel_boots_under_kvm(tmp_path), verdict.reason
    domain_type, reason = choose_accel(Settings(), probe=lambda: verdict)
    assert domain_type == ("kvm" if verdict.works else "qemu")
    assert verdict.reason in reason


def test_the_firmware_runs_to_the_end_under_tcg() -> None:
    """The control: the firmware itself is sound, so a failure under KVM is KVM's."""
    verdict = run_firmware("tcg", qemu())
    assert verdict.works, verdict.reason


def test_the_firmware_is_what_its_source_says(tmp_path: Path) -> None:
    if shutil.which("as") is None or shutil.which("ld") is None:
        pytest.skip("binutils (as, ld) are not installed")
    (tmp_path / "probe.S").write_text(PROBE_SOURCE)
    subprocess.run(["as", "--64", "-o", "probe.o", "probe.S"], cwd=tmp_path, check=True)
    subprocess.run(
        ["ld", "-Ttext=0xf0000", "--oformat", "binary", "-o", "probe.bin", "probe.o"],
        cwd=tmp_path,
        check=True,
    )
    assert (tmp_path / "probe.bin").read_bytes() == probe_rom()


def test_a_missing_device_is_reported_without_running_qemu(tmp_path: Path) -> None:
    verdict = probe_kvm(device=tmp_path / "kvm", qemu="/nonexistent/qemu")
    assert verdict == Verdict(False, f"{tmp_path / 'kvm'} does not exist")


def test_forcing_an_accelerator_skips_the_probe() -> None:
    def no_probe() -> Verdict:
        raise AssertionError("probed although forced")

    assert choose_accel(Settings(compute_accel="tcg"), probe=no_probe)[0] == "qemu"
    with pytest.raises(RuntimeError, match="use auto, kvm or tcg"):
        choose_accel(Settings(compute_accel="xen"), probe=no_probe)
    if os.access(KVM_DEVICE, os.R_OK | os.W_OK):
        for settings in (Settings(compute_accel="kvm"), Settings(compute_kvm=True)):
            assert choose_accel(settings, probe=no_probe) == (
                "kvm",
                "KVM forced (STRATA_COMPUTE_ACCEL=kvm), not probed",
            )


def test_the_reason_is_shown_on_the_hypervisor(tmp_path: Path) -> None:
    needs_libvirt_python()
    settings = Settings(data_dir=tmp_path, host="probe-node", compute_driver="test")
    cloud = build_cloud(settings)
    reason = "TCG, KVM unusable: /dev/kvm cannot boot a stock kernel (stuck in real mode)"
    agent = build_agent(cloud, DriverChoice(TEST_URI, "test", "test driver", reason))
    try:
        cloud.runner.catch_up_all()
        (host,) = [h for h in ComputeQueries(cloud.db).hosts() if h["hostname"] == "probe-node"]
        assert host["inventory"]["hypervisor_driver_reason"] == reason
    finally:
        agent.close()
        cloud.close()
