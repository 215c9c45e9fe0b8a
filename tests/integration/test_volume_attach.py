"""Attach and detach through Nova's os-volume_attachments, carried out by the
compute agent on libvirt's test:///default driver, reported through the real
command bus: Nova's list and Cinder's attachments are read from the same
events, so they agree at every step, also after a server delete and after an
agent that died between plugging a disk and reporting it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from commands.context import SYSTEM_CONTEXT
from commands.volume.agent import RegisterStorageHost, ReportAttachFailed
from infra.virt import qemu_img, seed
from infra.virt.hypervisor import TEST_URI, Hypervisor
from projections.image.queries import ImageQueries
from runtime import registry
from runtime.compute_agent import host_state
from tests.integration.test_compute_agent_world import needs_libvirt_python
from tests.integration.test_compute_http import compute_env
from tests.integration.test_network_http import Api, serving
from tests.integration.test_volume_api import V, VolumeEnv
from workers.compute.agent import AgentOptions, ComputeAgent
from workers.compute.disks import Disks
from workers.compute.reporter import CommandReporter

HOST = "node-1"


class Killed(CommandReporter):
    """An agent killed right after libvirt plugged a disk: its reports of
    volumes never reach the bus."""

    def volume_attached(self, volume_id: str, attachment_id: str, mountpoint: str) -> None:
        pass

    def volume_detached(self, volume_id: str, attachment_id: str) -> None:
        pass


@dataclass
class AttachEnv:
    venv: VolumeEnv
    hv: Hypervisor
    data_dir: Path

    @property
    def nova(self) -> Api:
        return self.venv.env.alice.api

    def agent(self, reporter_class: type[CommandReporter] = CommandReporter) -> ComputeAgent:
        """A fresh agent, as after a restart: it remembers nothing."""
        cloud = self.venv.env.cloud
        disks = Disks(
            self.data_dir / "instances",
            self.venv.env.cloud.settings.images_dir or self.data_dir / "images",
            qemu_img.find_qemu_img(),
            seed.find_iso_tool(),
            placeholders=True,
        )
        reporter = reporter_class(cloud.bus, HOST)
        options = AgentOptions(domain_type="test", host=HOST, shutdown_timeout=2)
        return ComputeAgent(
            self.hv, disks, ImageQueries(cloud.db).get, reporter, options, volume_reporter=reporter
        )

    def converge(self, agent: ComputeAgent | None = None) -> None:
        agent = agent or self.agent()
        try:
            for _ in range(3):  # a report made in one pass changes what the next sees
                self.venv.env.cloud.runner.catch_up_all()
                agent.converge(host_state(self.venv.env.cloud, HOST))
                agent.wait_idle()
            self.venv.env.cloud.runner.catch_up_all()
        finally:
            agent.close()

    def active_server(self) -> str:
        server_id = self.venv.server()
        self.converge()
        assert self.nova.ok("GET", f"/v2.1/servers/{server_id}")["server"]["status"] == "ACTIVE"
        return server_id

    def disks(self, server_id: str) -> dict[str, str]:
        """volume id → target dev, as the domain's definition has them."""
        domain = self.hv.lookup(f"strata-{server_id}")
        assert domain is not None
        return {d.volume_id: d.dev for d in self.hv.volume_disks(domain)}

    def xml(self, server_id: str) -> str:
        domain = self.hv.lookup(f"strata-{server_id}")
        assert domain is not None
        return self.hv.description(domain)

    def cinder(self, volume_id: str) -> dict[str, Any]:
        path = f"{self.venv.base}/volumes/{volume_id}"
        return dict(self.venv.alice.ok("GET", path)["volume"])

    def nova_list(self, server_id: str) -> list[dict[str, Any]]:
        path = f"/v2.1/servers/{server_id}/os-volume_attachments"
        return list(self.nova.ok("GET", path)["volumeAttachments"])

    def attach(self, server_id: str, volume_id: str, **extra: str) -> tuple[int, Any]:
        body = {"volumeAttachment": {"volumeId": volume_id, **extra}}
        return self.nova("POST", f"/v2.1/servers/{server_id}/os-volume_attachments", body)


@pytest.fixture(scope="module")
def aenv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttachEnv]:
    needs_libvirt_python()
    data_dir = Path(tmp_path_factory.mktemp("volume-attach"))
    for env in compute_env(data_dir):
        folder = str(env.cloud.settings.data_dir / "volumes")
        env.cloud.bus.dispatch(
            RegisterStorageHost(hostname=HOST, volumes_dir=folder), SYSTEM_CONTEXT
        )
        app = registry.APPS["block-storage"](env.cloud)
        images = env.cloud.settings.images_dir or data_dir / "images"
        images.mkdir(parents=True, exist_ok=True)
        image = images / env.image_id
        if not image.exists():  # the test driver reads nothing, but the cache wants bytes
            image.write_bytes(b"\0" * 65536)
        hv = Hypervisor(TEST_URI)
        with serving(app) as url, httpx.Client(base_url=url) as client:
            try:
                yield AttachEnv(VolumeEnv(env, client), hv, env.cloud.settings.data_dir)
            finally:
                for domain in hv.domains(HOST).values():
                    hv.remove(domain)
                hv.close()


def test_attach_and_detach_through_nova(aenv: AttachEnv) -> None:
    server_id, vid = aenv.active_server(), aenv.venv.volume()["id"]
    code, body = aenv.attach(server_id, vid)
    assert code == 200, body
    shown = body["volumeAttachment"]
    assert (shown["id"], shown["volumeId"], shown["serverId"]) == (vid, vid, server_id)
    assert aenv.cinder(vid)["status"] == "attaching"

    aenv.converge()
    # vda is the root disk and vdb the config drive: the volume comes next.
    assert aenv.disks(server_id) == {vid: "vdc"}
    assert f"<serial>{vid}</serial>" in aenv.xml(server_id)
    volume = aenv.cinder(vid)
    assert volume["status"] == "in-use"
    assert [(a["server_id"], a["device"]) for a in volume["attachments"]] == [
        (server_id, "/dev/vdc")
    ]
    listed = aenv.nova_list(server_id)
    assert [(a["volumeId"], a["device"]) for a in listed] == [(vid, "/dev/vdc")]
    one = aenv.nova.ok("GET", f"/v2.1/servers/{server_id}/os-volume_attachments/{vid}")
    assert one["volumeAttachment"] == listed[0]
    # Another pass changes nothing: the disk is not plugged twice.
    aenv.converge()
    assert aenv.xml(server_id).count(f"<serial>{vid}</serial>") == 1

    # In use and not multiattach: Nova's 409, before any event.
    other = aenv.active_server()
    code, body = aenv.attach(other, vid)
    assert code == 409 and "conflictingRequest" in body, body

    path = f"/v2.1/servers/{server_id}/os-volume_attachments/{vid}"
    code, body = aenv.nova("DELETE", path)
    assert code == 202, body
    assert aenv.cinder(vid)["status"] == "detaching"
    aenv.converge()
    assert aenv.disks(server_id) == {}
    assert aenv.cinder(vid)["status"] == "available" and aenv.cinder(vid)["attachments"] == []
    assert aenv.nova_list(server_id) == []
    code, body = aenv.nova("GET", path)
    assert code == 404 and "itemNotFound" in body, body


def test_requested_device_and_refusals(aenv: AttachEnv) -> None:
    server_id, vid = aenv.active_server(), aenv.venv.volume()["id"]
    code, body = aenv.attach(server_id, vid, device="/dev/vdf")
    assert code == 200, body
    aenv.converge()
    assert aenv.disks(server_id) == {vid: "vdf"}
    assert aenv.nova_list(server_id)[0]["device"] == "/dev/vdf"

    code, body = aenv.attach(server_id, str(uuid.uuid4()))
    assert code == 404 and "itemNotFound" in body, body
    code, body = aenv.attach(str(uuid.uuid4()), vid)
    assert code == 404, body
    code, body = aenv.nova("POST", f"/v2.1/servers/{server_id}/os-volume_attachments", {})
    assert code == 400 and "badRequest" in body, body
    # A server still building (no agent pass yet) cannot take a volume.
    building, free = aenv.venv.server(), aenv.venv.volume()["id"]
    code, body = aenv.attach(building, free)
    assert code == 409 and "conflictingRequest" in body, body
    # Bob sees neither the server nor its attachments.
    bob = aenv.venv.env.bob.api
    code, _ = bob("GET", f"/v2.1/servers/{server_id}/os-volume_attachments")
    assert code == 404
    # Cinder refuses to delete an attached volume.
    code, body = aenv.venv.alice("DELETE", f"{aenv.venv.base}/volumes/{vid}", **V)
    assert code in (400, 409), body


def test_server_delete_releases_its_volumes(aenv: AttachEnv) -> None:
    server_id, vid = aenv.active_server(), aenv.venv.volume()["id"]
    assert aenv.attach(server_id, vid)[0] == 200
    aenv.converge()
    assert aenv.cinder(vid)["status"] == "in-use"
    code, body = aenv.nova("DELETE", f"/v2.1/servers/{server_id}")
    assert code == 204, body
    # Released in the delete's own transaction: visible at once, no agent needed.
    assert aenv.cinder(vid)["status"] == "available"
    assert aenv.cinder(vid)["attachments"] == []
    aenv.converge()
    assert aenv.hv.lookup(f"strata-{server_id}") is None
    # And it can be attached elsewhere straight away.
    other = aenv.active_server()
    assert aenv.attach(other, vid)[0] == 200


def test_agent_killed_mid_attach_both_sides_agree_after_restart(aenv: AttachEnv) -> None:
    server_id, vid = aenv.active_server(), aenv.venv.volume()["id"]
    assert aenv.attach(server_id, vid)[0] == 200
    # The first agent plugs the disk and dies before its report.
    aenv.converge(aenv.agent(Killed))
    assert aenv.disks(server_id) == {vid: "vdc"}
    assert aenv.cinder(vid)["status"] == "attaching"
    # Its successor finds the disk, does not plug it again, and reports it.
    aenv.converge()
    assert aenv.xml(server_id).count(f"<serial>{vid}</serial>") == 1
    assert aenv.cinder(vid)["status"] == "in-use"
    assert aenv.nova_list(server_id)[0]["device"] == "/dev/vdc"


def test_agent_killed_mid_attach_and_attachment_gone_meanwhile(aenv: AttachEnv) -> None:
    """The other way to agree: the attachment ended while the agent was down
    (here a failure reported from elsewhere), so the plugged disk is debris."""
    server_id, vid = aenv.active_server(), aenv.venv.volume()["id"]
    attachment_id = aenv.attach(server_id, vid)[1]["volumeAttachment"]["id"]
    aenv.converge(aenv.agent(Killed))
    assert aenv.disks(server_id) == {vid: "vdc"}
    found = aenv.venv.env.cloud.db.query(
        "SELECT id FROM volume_attachments WHERE volume_id = %s", [vid]
    )
    failed = ReportAttachFailed(volume_id=vid, attachment_id=found[0]["id"], reason="gave up")
    aenv.venv.env.cloud.bus.dispatch(failed, SYSTEM_CONTEXT)
    assert attachment_id == vid  # Nova's id of an attachment is its volume's
    aenv.converge()
    assert aenv.disks(server_id) == {}
    assert aenv.cinder(vid)["status"] == "available"
    assert aenv.nova_list(server_id) == []


def test_detach_of_a_disk_already_gone_is_reported(aenv: AttachEnv) -> None:
    """A crash after the unplug, before its report: the next pass reports it."""
    server_id, vid = aenv.active_server(), aenv.venv.volume()["id"]
    assert aenv.attach(server_id, vid)[0] == 200
    aenv.converge()
    path = f"/v2.1/servers/{server_id}/os-volume_attachments/{vid}"
    assert aenv.nova("DELETE", path)[0] == 202
    aenv.converge(aenv.agent(Killed))
    assert aenv.disks(server_id) == {}
    assert aenv.cinder(vid)["status"] == "detaching"
    aenv.converge()
    assert aenv.cinder(vid)["status"] == "available"


class DeafGuest(Hypervisor):
    """A guest that never acknowledges an unplug: libvirt accepts the
    request, and the disk stays in the domain (and qemu keeps the file)."""

    def detach_disk(self, domain: Any, dev: str) -> None:
        pass


def test_a_disk_the_guest_keeps_is_not_called_detached(aenv: AttachEnv) -> None:
    server_id, vid = aenv.active_server(), aenv.venv.volume()["id"]
    assert aenv.attach(server_id, vid)[0] == 200
    aenv.converge()
    path = f"/v2.1/servers/{server_id}/os-volume_attachments/{vid}"
    assert aenv.nova("DELETE", path)[0] == 202

    cloud, now = aenv.venv.env.cloud, [0.0]
    deaf = DeafGuest(TEST_URI)
    disks = aenv.agent().disks
    reporter = CommandReporter(cloud.bus, HOST)
    options = AgentOptions(domain_type="test", host=HOST, detach_timeout=60)
    agent = ComputeAgent(
        deaf, disks, ImageQueries(cloud.db).get, reporter, options, lambda: now[0], reporter
    )

    def one_pass() -> None:
        cloud.runner.catch_up_all()
        agent.converge(host_state(cloud, HOST))
        agent.wait_idle()
        cloud.runner.catch_up_all()

    try:
        one_pass()
        now[0] = 59.0
        one_pass()
        # Still plugged: the volume may not be handed to anyone else yet.
        assert aenv.disks(server_id) == {vid: "vdc"}
        assert aenv.cinder(vid)["status"] == "detaching"
        now[0] = 61.0
        one_pass()
    finally:
        agent.close()
        deaf.close()
    # Past the timeout the detach fails: the attachment stands again, in-use
    # on both sides, and a later detach (a guest that listens) goes through.
    volume = aenv.cinder(vid)
    assert volume["status"] == "in-use"
    assert [a["server_id"] for a in volume["attachments"]] == [server_id]
    assert [a["volumeId"] for a in aenv.nova_list(server_id)] == [vid]
    assert aenv.nova("DELETE", path)[0] == 202
    aenv.converge()
    assert aenv.disks(server_id) == {}
    assert aenv.cinder(vid)["status"] == "available"
