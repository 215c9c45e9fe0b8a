"""The compute agent on libvirt's test:///default driver, through the real
command bus and read models (SQLite and PostgreSQL): spawn, stop/start,
reboot, delete, the full reconcile, and failures that end in ERROR."""

from __future__ import annotations

import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from commands.compute.servers import DeleteServer, ServerAction
from infra.virt.domain_xml import DomainSpec, render_domain
from tests.integration.test_compute_agent_world import (
    AgentWorld,
    make_agent_world,
    needs_libvirt_python,
)
from tests.integration.test_compute_world import ALICE, settings_for
from workers.compute.disks import Disks
from workers.network import names

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def aw(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AgentWorld]:
    needs_libvirt_python()
    yield from make_agent_world(settings_for(request.param, tmp_path, request))


def _status(aw: AgentWorld, server_id: str) -> tuple[str, str | None]:
    server = aw.server(server_id)
    return server["vm_state"], server["task_state"]


def _action(aw: AgentWorld, server_id: str, action: str, hard: bool = False) -> None:
    aw.world.run(ServerAction(server_id=uuid.UUID(server_id), action=action, hard=hard), ALICE)  # type: ignore[arg-type]


def test_spawn_defines_starts_and_reports_active(aw: AgentWorld) -> None:
    server_id = aw.boot()
    aw.converge()
    server = aw.server(server_id)
    assert (server["vm_state"], server["task_state"], server["power_state"]) == ("active", None, 1)
    assert server["launched_at"] and server["host"] == "node-1"
    domain = aw.domain(server_id)
    assert domain is not None and domain.isActive()
    (port,) = _host_state(aw)["servers"][0]["ports"]
    (nic,) = ET.fromstring(domain.XMLDesc()).findall("devices/interface")
    assert _attr(nic, "target", "dev") == names.tap(port["id"])
    assert _attr(nic, "mac", "address") == port["mac_address"]
    folder = aw.disks.root / server_id
    assert (folder / "disk").exists() and (folder / "seed.iso").exists()


def _attr(node: ET.Element, child: str, name: str) -> str | None:
    found = node.find(child)
    return None if found is None else found.get(name)


def test_console_output_is_recorded(aw: AgentWorld) -> None:
    server_id = aw.boot()
    aw.converge()
    output = aw.world.queries.console(server_id)
    assert "[strata test driver] domain started" in output


def test_stop_start_and_reboots(aw: AgentWorld) -> None:
    server_id = aw.boot()
    aw.converge()
    _action(aw, server_id, "stop")
    aw.converge()
    assert _status(aw, server_id) == ("stopped", None)
    assert not aw.domain(server_id).isActive()
    _action(aw, server_id, "start")
    aw.converge()
    assert _status(aw, server_id) == ("active", None)
    assert aw.domain(server_id).isActive()
    for hard in (False, True):
        _action(aw, server_id, "reboot", hard=hard)
        assert _status(aw, server_id)[1] == ("rebooting_hard" if hard else "rebooting")
        aw.converge()
        assert _status(aw, server_id) == ("active", None)
        assert aw.domain(server_id).isActive()


def test_delete_removes_domain_and_disks(aw: AgentWorld) -> None:
    server_id = aw.boot()
    aw.converge()
    aw.world.run(DeleteServer(server_id=uuid.UUID(server_id)), ALICE)
    aw.converge()
    assert aw.domain(server_id) is None
    assert not (aw.disks.root / server_id).exists()


def test_reconcile_removes_strays_and_keeps_foreign_domains(aw: AgentWorld) -> None:
    stray = str(uuid.uuid4())
    xml = (
        f"<domain type='test'><name>strata-{stray}</name><memory unit='MiB'>64</memory>"
        "<os><type arch='x86_64'>hvm</type></os></domain>"
    )
    aw.hv.define(xml).create()
    orphan_dir = aw.disks.instance_dir(str(uuid.uuid4()))
    (orphan_dir / "disk").write_text("left by a crash")
    other = DomainSpec(str(uuid.uuid4()), "x", "test", 1, 64, Path("/nowhere"), host="node-2")
    aw.hv.define(render_domain(other))
    aw.converge()
    assert aw.domain(stray) is None
    assert not orphan_dir.exists()
    assert aw.hv.lookup("test") is not None  # the driver's own domain is not ours
    assert aw.domain(other.server_id) is not None  # another host's (same libvirtd)


def test_a_domain_lost_in_a_crash_is_brought_back(aw: AgentWorld) -> None:
    server_id = aw.boot()
    aw.converge()
    aw.hv.remove(aw.domain(server_id))
    aw.converge()
    domain = aw.domain(server_id)
    assert domain is not None and domain.isActive()
    assert _status(aw, server_id) == ("active", None)


def test_a_guest_that_shut_itself_down_becomes_shutoff(aw: AgentWorld) -> None:
    server_id = aw.boot()
    aw.converge()
    aw.domain(server_id).destroy()
    aw.converge()
    server = aw.server(server_id)
    assert (server["vm_state"], server["power_state"]) == ("stopped", 4)


def test_missing_image_data_ends_in_error_with_the_reason(aw: AgentWorld) -> None:
    image_id = aw.world.image()  # registered, but no bytes in the store
    server_id = aw.boot(image_id)
    aw.converge()
    server = aw.server(server_id)
    assert server["vm_state"] == "error"
    fault: dict[str, Any] = server["body"]["fault"]
    assert "no data in the image store" in fault["message"]
    assert "caching image" in fault["message"]


class _StuckDisks(Disks):
    entered = threading.Event()
    release = threading.Event()

    def overlay(self, server_id: str, image_id: str, size_gb: int) -> Path:
        self.entered.set()
        self.release.wait(30)
        return super().overlay(server_id, image_id, size_gb)


def test_a_step_that_hangs_times_out_into_error(tmp_path: Path) -> None:
    needs_libvirt_python()
    now = [0.0]
    worlds = make_agent_world(
        settings_for("sqlite", tmp_path, None),  # type: ignore[arg-type]
        disks_factory=_StuckDisks,
        clock=lambda: now[0],
        step_timeout=60,
    )
    aw = next(worlds)
    try:
        server_id = aw.boot()
        aw.agent.converge(_host_state(aw))
        assert _StuckDisks.entered.wait(10)
        now[0] = 61.0
        aw.agent.converge(_host_state(aw))  # the job is still stuck in its step
        server = aw.server(server_id)
        assert server["vm_state"] == "error"
        assert "Timed out after 60s while caching image" in server["body"]["fault"]["message"]
    finally:
        _StuckDisks.release.set()
        next(worlds, None)


def _host_state(aw: AgentWorld) -> dict[str, Any]:
    from projections.compute.host_state import compute_host_state

    aw.world.runner.catch_up_all()
    return compute_host_state(aw.world.db, "node-1")
