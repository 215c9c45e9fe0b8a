"""The compute agent prunes its base-image cache (libvirt's test driver, real
command bus and read models): bases no server of the host uses go once
unused for longer than the setting; never one in use, being copied, or
while a job is in flight."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from commands.compute.servers import DeleteServer
from projections.image.queries import ImageQueries
from tests.integration.test_compute_agent_world import (
    HOST,
    AgentWorld,
    make_agent_world,
    needs_libvirt_python,
)
from tests.integration.test_compute_world import ALICE, settings_for
from workers.compute.agent import AgentOptions, ComputeAgent
from workers.compute.disks import BASE, Disks
from workers.compute.reporter import CommandReporter

HOUR = 3600.0


class GatedDisks(Disks):
    """Copies into the cache wait for `gate` (a copy in flight, held open)."""

    gate = threading.Event()
    copying = threading.Event()

    def cached(self, image_id: str) -> tuple[Path, str]:
        self.copying.set()
        assert self.gate.wait(30)
        return super().cached(image_id)


def _world(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    min_age: float = HOUR,
    disks_factory: Callable[..., Disks] = Disks,
) -> Iterator[AgentWorld]:
    needs_libvirt_python()
    for aw in make_agent_world(settings_for("sqlite", tmp_path, request), disks_factory):
        aw.agent.close()
        options = AgentOptions(
            domain_type="test",
            host=HOST,
            shutdown_timeout=2,
            image_cache_min_age=min_age,
            image_cache_interval=0,  # every idle pass checks
        )
        reporter = CommandReporter(aw.world.bus, HOST)
        aw.agent = ComputeAgent(aw.hv, aw.disks, ImageQueries(aw.world.db).get, reporter, options)
        try:
            yield aw
        finally:
            GatedDisks.gate.set()
            aw.agent.wait_idle()
            aw.agent.close()


@pytest.fixture
def aw(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[AgentWorld]:
    yield from _world(tmp_path, request)


def _base(aw: AgentWorld, image_id: str) -> Path:
    return aw.disks.root / BASE / image_id


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _cached_then_unused(aw: AgentWorld) -> str:
    """An image a deleted server booted from: cached, used by nobody."""
    image_id = aw.image()
    server_id = aw.boot(image_id)
    aw.converge()
    aw.world.run(DeleteServer(server_id=uuid.UUID(server_id)), ALICE)  # type: ignore[arg-type]
    aw.converge()
    assert aw.domain(server_id) is None and _base(aw, image_id).exists()
    return image_id


def test_only_unused_bases_older_than_the_setting_are_removed(aw: AgentWorld) -> None:
    used = aw.image()
    aw.boot(used)
    aw.converge()
    old_unused, recent_unused = _cached_then_unused(aw), _cached_then_unused(aw)
    _age(_base(aw, used), 2 * HOUR)
    _age(_base(aw, old_unused), 2 * HOUR)
    _age(_base(aw, recent_unused), HOUR / 2)
    aw.converge()
    assert not _base(aw, old_unused).exists()
    assert _base(aw, recent_unused).exists()
    assert _base(aw, used).exists()
    # In use counts as used now: its age starts again.
    assert time.time() - _base(aw, used).stat().st_mtime < HOUR / 2


def test_a_kernel_named_by_a_domain_is_in_use(aw: AgentWorld) -> None:
    kernel = aw.image(b"kernel bytes")
    disk = aw.world.image(size=65536, kernel_id=kernel)
    (aw.images_dir / disk).write_bytes(b"\0" * 65536)
    server_id = aw.boot(disk)
    aw.converge()
    assert aw.server(server_id)["vm_state"] == "active"
    assert f"/{BASE}/{kernel}" in aw.domain(server_id).XMLDesc(0)
    for image_id in (kernel, disk):
        _age(_base(aw, image_id), 2 * HOUR)
    aw.converge()
    assert _base(aw, kernel).exists() and _base(aw, disk).exists()


def test_a_base_being_copied_is_kept(aw: AgentWorld) -> None:
    image_id = _cached_then_unused(aw)
    base = _base(aw, image_id)
    debris = base.with_name(f".{image_id}.0badc0de.part")
    debris.write_bytes(b"half a copy")
    for path in (base, debris):
        _age(path, 2 * HOUR)
    with aw.disks._lock(image_id):  # what Disks.cached holds while copying
        aw.converge()
        assert base.exists() and debris.exists()
    aw.converge()
    assert not base.exists() and not debris.exists()


def test_nothing_is_pruned_while_a_job_is_in_flight(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    GatedDisks.gate.set()
    for aw in _world(tmp_path, request, disks_factory=GatedDisks):
        unused = _cached_then_unused(aw)
        GatedDisks.gate.clear()
        GatedDisks.copying.clear()
        aw.boot()
        aw.world.runner.catch_up_all()
        state: dict[str, Any] = {"servers": _servers(aw)}
        aw.agent.converge(state)  # starts the new server's job: it waits in the copy
        assert GatedDisks.copying.wait(30)
        _age(_base(aw, unused), 2 * HOUR)
        aw.agent.converge(state)  # a pass with a job in flight
        assert _base(aw, unused).exists()
        GatedDisks.gate.set()
        aw.agent.wait_idle()
        aw.converge()
        assert not _base(aw, unused).exists()


def _servers(aw: AgentWorld) -> list[dict[str, Any]]:
    from projections.compute.host_state import compute_host_state

    servers: list[dict[str, Any]] = compute_host_state(aw.world.db, HOST)["servers"]
    return servers


def test_a_negative_minimum_age_keeps_everything(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    for aw in _world(tmp_path, request, min_age=-1):
        unused = _cached_then_unused(aw)
        _age(_base(aw, unused), 1000 * HOUR)
        aw.converge()
        assert _base(aw, unused).exists()
