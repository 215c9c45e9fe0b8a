"""Which compute driver a host runs, and the inventory it registers."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings import Settings, load_settings
from infra.virt import hypervisor
from runtime.compute_agent import choose_driver
from workers.compute.inventory import Inventory, measure, with_overrides


def test_off_and_unknown_drivers() -> None:
    assert choose_driver(Settings(compute_driver="off")).uri is None
    with pytest.raises(RuntimeError, match="use auto, libvirt, test or off"):
        choose_driver(Settings(compute_driver="xen"))


def test_without_libvirt_python_auto_is_off_and_test_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("runtime.compute_agent.libvirt_available", lambda: False)
    choice = choose_driver(Settings(compute_driver="auto"))
    assert choice.uri is None and "strata[libvirt]" in choice.description
    with pytest.raises(RuntimeError, match="libvirt-python"):
        choose_driver(Settings(compute_driver="test"))


def test_auto_falls_back_to_the_test_driver_without_qemu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("runtime.compute_agent.libvirt_available", lambda: True)
    monkeypatch.setattr("runtime.compute_agent.shutil.which", lambda _: None)
    choice = choose_driver(Settings(compute_driver="auto"))
    assert (choice.uri, choice.domain_type, choice.label) == (
        hypervisor.TEST_URI,
        "test",
        "libvirt-test",
    )
    assert "qemu-system-x86_64 is not installed" in choice.description
    with pytest.raises(RuntimeError, match="cannot run here"):
        choose_driver(Settings(compute_driver="libvirt"))


def test_settings_from_the_environment() -> None:
    settings = load_settings(
        {
            "STRATA_COMPUTE_DRIVER": "test",
            "STRATA_COMPUTE_KVM": "yes",
            "STRATA_COMPUTE_INSTANCES_DIR": "/srv/instances",
            "STRATA_COMPUTE_VCPUS": "4",
        }
    )
    assert (settings.compute_driver, settings.compute_kvm) == ("test", True)
    assert settings.compute_instances_dir == Path("/srv/instances")
    assert settings.compute_vcpus == 4 and settings.compute_memory_mb == 0


def test_inventory_is_measured_and_overridable(tmp_path: Path) -> None:
    found = measure(tmp_path)
    assert found.vcpus >= 1 and found.memory_mb > 0 and found.disk_gb >= 0
    assert with_overrides(found, 2, 0, 10) == Inventory(2, found.memory_mb, 10)
