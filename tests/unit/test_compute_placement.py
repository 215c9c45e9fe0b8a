"""Placement math: capacity with allocation ratios, claims, filters, weights."""

from __future__ import annotations

import random

import pytest

from domain.compute.hosts import Host, HostRegistry, host_id
from domain.compute.placement import Request, choose, passes
from domain.errors import Conflict, InvalidInput

SMALL = {"vcpus": 1, "memory_mb": 512, "disk_gb": 1}


def _host(name: str, **inventory: object) -> Host:
    values: dict[str, object] = {"vcpus": 4, "memory_mb": 4096, "disk_gb": 40}
    values.update(inventory)
    return Host(hostname=name, inventory=values)


def test_capacity_counts_ratios_and_reservations() -> None:
    host = _host("h", cpu_allocation_ratio=4.0, reserved_memory_mb=1024)
    assert host.capacity("vcpus") == 16
    assert host.capacity("memory_mb") == 3072
    assert host.id == host_id("h")


def test_claims_never_overcommit_and_are_idempotent() -> None:
    host = _host("h", vcpus=2, cpu_allocation_ratio=1.0)
    host.claim("a", SMALL)
    host.claim("a", SMALL)  # the same server again: no second claim
    host.claim("b", SMALL)
    assert host.free("vcpus") == 0
    with pytest.raises(Conflict):
        host.claim("c", SMALL)
    host.release("a")
    host.claim("c", SMALL)
    assert sorted(host.claims) == ["b", "c"]


def test_inventory_is_checked() -> None:
    with pytest.raises(InvalidInput):
        _host("h", vcpus=-1)
    with pytest.raises(InvalidInput):
        _host("h", ram_allocation_ratio=0)


def test_filters() -> None:
    arm = _host("arm", cpu_arch="aarch64", availability_zone="az2")
    x86 = _host("x86", cpu_arch="x86_64", hypervisor_type="QEMU")
    assert passes(arm, Request("s", SMALL, image_properties={"hw_architecture": "aarch64"}))
    assert not passes(x86, Request("s", SMALL, image_properties={"hw_architecture": "aarch64"}))
    assert passes(x86, Request("s", SMALL, image_properties={"hypervisor_type": "qemu"}))
    assert not passes(x86, Request("s", SMALL, availability_zone="az2"))
    assert not passes(x86, Request("s", {"vcpus": 1, "memory_mb": 9999, "disk_gb": 1}))
    assert not passes(x86, Request("s", SMALL, different_host=frozenset({"x86"})))
    assert not passes(
        x86, Request("s", SMALL, same_host=frozenset({"arm"}), same_host_required=True)
    )
    assert not passes(_host("off", disabled=True), Request("s", SMALL))


def test_spread_and_pack() -> None:
    busy, idle = _host("busy"), _host("idle")
    busy.claim("x", {"vcpus": 2, "memory_mb": 2048, "disk_gb": 10})
    rng = random.Random(1)
    assert choose([busy, idle], Request("s", SMALL), "spread", pick=rng.choice) is idle
    assert choose([busy, idle], Request("s", SMALL), "pack", pick=rng.choice) is busy
    assert choose([], Request("s", SMALL)) is None


def test_ties_are_broken_at_random() -> None:
    hosts = [_host(f"h{i}") for i in range(4)]
    rng = random.Random(7)
    picked = {choose(hosts, Request("s", SMALL), pick=rng.choice).hostname for _ in range(40)}  # type: ignore[union-attr]
    assert len(picked) > 1


def test_registry_lists_hosts_once() -> None:
    registry = HostRegistry()
    registry.add("a")
    registry.add("b")
    registry.add("a")
    assert registry.hostnames == ["a", "b"]
