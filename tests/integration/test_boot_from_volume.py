"""Boot from volume through the command bus, on SQLite and PostgreSQL: a real
storage agent makes the volume files (qcow2, qemu-img) and the compute agent
defines the guests on libvirt's test:///default driver, both reporting
through the bus. Covers a root volume made from an image, an existing
bootable volume with an extra blank one, a volume that fails to be made,
delete with and without delete_on_termination, and an attach racing the
server's delete."""

from __future__ import annotations

import shutil
import subprocess
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import commands.compute
import commands.image
import commands.volume  # noqa: F401  (register the handlers)
from commands.bus import CommandBus, Dependencies
from commands.compute.networking import NetworkRequest
from commands.compute.servers import BlockDevice, CreateServer, DeleteServer
from commands.context import SYSTEM_CONTEXT
from commands.volume.agent import RegisterStorageHost
from commands.volume.attachments import AttachVolumeToServer
from commands.volume.volumes import CreateVolume
from domain.errors import Conflict, DomainError, InvalidInput
from infra.database import open_database
from infra.eventstore import EventStore, open_recorder
from infra.virt import qemu_img, seed
from infra.virt.hypervisor import TEST_URI, Hypervisor
from infra.volume_files import VolumeFiles
from projections.compute.host_state import compute_host_state
from projections.compute.projection import ComputeProjection
from projections.compute.queries import ComputeQueries
from projections.image.projection import ImageProjection
from projections.image.queries import ImageQueries
from projections.network.projection import NetworkProjection
from projections.runner import ProjectionRunner
from projections.volume.host_state import compute_volume_state, storage_host_state
from projections.volume.projection import VolumeProjection
from projections.volume.queries import VolumeQueries
from runtime.storage_agent import Reporter
from tests.integration.test_compute_agent_world import needs_libvirt_python
from tests.integration.test_compute_world import ALICE, BOB, ComputeWorld
from tests.integration.test_network_world import NoPasswords, settings_for
from workers.compute.agent import AgentOptions, ComputeAgent
from workers.compute.disks import Disks
from workers.compute.reporter import CommandReporter
from workers.storage.agent import StorageAgent

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")

HOST = "node-1"
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@dataclass
class BootWorld:
    compute: ComputeWorld
    volumes: VolumeQueries
    hv: Hypervisor
    agent: ComputeAgent
    storage: StorageAgent
    images_dir: Path
    folder: Path

    @property
    def bus(self) -> CommandBus:
        return self.compute.bus

    def image(self, data: bool = True, min_disk: int = 0, **props: str) -> str:
        """An image whose data is a real (small) qcow2 file, as the storage
        agent converts it; `data=False` leaves the store without it."""
        # (properties are strings: none of them is `min_ram`, whatever mypy fears)
        make: Any = self.compute.image
        image_id = str(make(size=1 << 20, min_disk=min_disk, **props))
        if data:
            path = self.images_dir / image_id
            subprocess.run(
                ["qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M"], check=True
            )
        return image_id

    def raw_image(self) -> str:
        """A kernel or ramdisk: bytes the compute host caches as they are."""
        image_id = self.compute.image(size=4096)
        (self.images_dir / image_id).write_bytes(b"\0" * 4096)
        return image_id

    def create(self, devices: list[BlockDevice], image_ref: str = "", **extra: Any) -> str:
        flavor = self.compute.flavor(flavorid=uuid.uuid4().hex[:8], disk=1)
        command = CreateServer(
            name="bfv",
            image_ref=image_ref,
            flavor_ref=flavor,
            networks=[NetworkRequest(network_id=self.compute.network())],
            block_devices=devices,
            **extra,
        )
        return str(self.compute.run(command, ALICE)["id"])

    def volume(self, image_id: str | None = None, size: int = 1) -> str:
        volume_id = str(self.compute.run(CreateVolume(size=size, image_id=image_id))["id"])
        self.converge()
        assert self.vol(volume_id)["status"] == "available"
        return volume_id

    def storage_pass(self) -> None:
        self.compute.runner.catch_up_all()
        report = self.storage.converge(storage_host_state(self.compute.db, HOST))
        Reporter(self).publish(report)  # type: ignore[arg-type]  # needs only .bus

    def compute_pass(self) -> None:
        self.compute.runner.catch_up_all()
        state = compute_host_state(self.compute.db, HOST)
        state["attachments"] = compute_volume_state(self.compute.db, HOST)["attachments"]
        self.agent.converge(state)
        self.agent.wait_idle()

    def converge(self) -> None:
        for _ in range(3):  # a report made in one pass changes what the next sees
            self.storage_pass()
            self.compute_pass()
        self.compute.runner.catch_up_all()

    def server(self, server_id: str) -> dict[str, Any]:
        self.compute.runner.catch_up_all()
        return self.compute.server(server_id)

    def vol(self, volume_id: str) -> dict[str, Any]:
        self.compute.runner.catch_up_all()
        found = self.volumes.volume(volume_id, None)
        assert found is not None, f"volume {volume_id} is not projected"
        return found

    def gone(self, volume_id: str) -> bool:
        self.compute.runner.catch_up_all()
        return self.volumes.volume(volume_id, None) is None

    def attachments(self, volume_id: str) -> list[dict[str, Any]]:
        self.compute.runner.catch_up_all()
        return self.volumes.attachments({"volume_id": volume_id})

    def xml(self, server_id: str) -> str:
        domain = self.hv.lookup(f"strata-{server_id}")
        assert domain is not None, "no domain defined"
        return self.hv.description(domain)

    def recorded(self, server_id: str) -> dict[str, dict[str, Any]]:
        """The volumes the server's row shows (from the Server's own events)."""
        return {v["id"]: v for v in self.server(server_id)["body"].get("volumes", [])}

    def claims(self) -> dict[str, Any]:
        rows = self.compute.db.query("SELECT claims FROM compute_hosts WHERE hostname = %s", [HOST])
        from projections.base import from_json

        return dict(from_json(rows[0]["claims"], {}))


def disk_on(xml: str, dev: str) -> tuple[str | None, str | None]:
    """(source file, serial) of the disk on target `dev`."""
    for disk in ET.fromstring(xml).findall("devices/disk"):
        target, source, serial = disk.find("target"), disk.find("source"), disk.find("serial")
        if target is not None and target.get("dev") == dev:
            return (
                None if source is None else source.get("file"),
                None if serial is None else serial.text,
            )
    return None, None


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BootWorld]:
    needs_libvirt_python()
    settings = settings_for(request.param, tmp_path, request)
    store = EventStore(open_recorder(settings))
    db = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
    projections = [NetworkProjection(), ComputeProjection(), ImageProjection(), VolumeProjection()]
    runner = ProjectionRunner(db, store, projections)
    runner.setup()
    bus = CommandBus(store, Dependencies(passwords=NoPasswords()), runner.wait_for)
    compute = ComputeWorld(store, db, runner, bus, ComputeQueries(db))
    compute.host(HOST)
    folder, images_dir = tmp_path / "volumes", tmp_path / "images"
    images_dir.mkdir()
    compute.run(RegisterStorageHost(hostname=HOST, volumes_dir=str(folder)), SYSTEM_CONTEXT)
    disks = Disks(
        tmp_path / "instances",
        images_dir,
        qemu_img.find_qemu_img(),
        seed.find_iso_tool(),
        placeholders=True,
    )
    hv = Hypervisor(TEST_URI)
    reporter = CommandReporter(bus, HOST)
    options = AgentOptions(domain_type="test", host=HOST, shutdown_timeout=2)
    agent = ComputeAgent(
        hv, disks, ImageQueries(db).get, reporter, options, volume_reporter=reporter
    )
    storage = StorageAgent(VolumeFiles(folder), images_dir)
    try:
        yield BootWorld(compute, VolumeQueries(db), hv, agent, storage, images_dir, folder)
    finally:
        agent.wait_idle()
        for domain in hv.domains(HOST).values():
            hv.remove(domain)
        agent.close()
        db.close()


def test_root_volume_made_from_an_image_and_deleted_with_the_server(world: BootWorld) -> None:
    kernel, ramdisk = world.raw_image(), world.raw_image()
    image = world.image(kernel_id=kernel, ramdisk_id=ramdisk, os_command_line="console=ttyS0")
    root = BlockDevice(
        source_type="image", uuid=image, volume_size=1, boot_index=0, delete_on_termination=True
    )
    server_id = world.create([root])

    # Saved in one transaction: the server waits for its volume, which is
    # already reserved for it; nothing is defined on the host yet.
    server = world.server(server_id)
    assert (server["vm_state"], server["task_state"]) == ("building", "block_device_mapping")
    assert server["image_id"] == ""
    (volume_id,) = world.recorded(server_id)
    volume = world.vol(volume_id)
    assert (volume["status"], volume["bootable"], volume["size"]) == ("creating", True, 1)
    assert [a["status"] for a in world.attachments(volume_id)] == ["reserved"]
    # The root disk is on the storage host: the compute host claims none of it.
    assert world.claims()[server_id]["disk_gb"] == 0
    world.compute_pass()
    assert world.hv.lookup(f"strata-{server_id}") is None

    world.converge()
    server = world.server(server_id)
    assert (server["vm_state"], server["task_state"]) == ("active", None)
    assert world.vol(volume_id)["status"] == "in-use"
    (attachment,) = world.attachments(volume_id)
    assert (attachment["status"], attachment["mountpoint"]) == ("attached", "/dev/vda")
    xml = world.xml(server_id)
    # The root disk is the volume's file, tagged with its id; the image's
    # kernel and ramdisk still boot it directly.
    path = world.folder / f"volume-{volume_id}.qcow2"
    assert path.exists()
    assert disk_on(xml, "vda") == (str(path), volume_id)
    assert "<kernel>" in xml and kernel in xml and ramdisk in xml
    assert "console=ttyS0" in xml
    assert world.recorded(server_id)[volume_id]["delete_on_termination"] is True

    world.compute.run(DeleteServer(server_id=uuid.UUID(server_id)), ALICE)
    # Freed and discarded in the delete's own transaction.
    assert world.attachments(volume_id) == []
    assert world.vol(volume_id)["status"] == "deleting"
    assert server_id not in world.claims()
    world.converge()
    assert world.gone(volume_id) and not path.exists()
    assert world.hv.lookup(f"strata-{server_id}") is None


def test_existing_boot_volume_with_a_blank_one_and_delete_keeps_it(world: BootWorld) -> None:
    boot_volume = world.volume(image_id=world.image())
    boot = BlockDevice(source_type="volume", uuid=boot_volume, boot_index=0)
    blank = BlockDevice(source_type="blank", volume_size=2, delete_on_termination=True)
    server_id = world.create([boot, blank])

    recorded = world.recorded(server_id)
    (blank_id,) = set(recorded) - {boot_volume}
    assert recorded[boot_volume]["boot_index"] == 0 and recorded[blank_id]["boot_index"] == -1
    # The existing volume is connected to the server's host at once; the
    # blank one is made first.
    assert world.vol(boot_volume)["status"] == "attaching"
    assert world.vol(blank_id)["status"] == "creating"
    assert world.server(server_id)["task_state"] == "block_device_mapping"

    world.converge()
    assert world.server(server_id)["vm_state"] == "active"
    xml = world.xml(server_id)
    disks = {
        d.volume_id: d.dev for d in world.hv.volume_disks(world.hv.lookup(f"strata-{server_id}"))
    }
    assert disks == {boot_volume: "vda", blank_id: "vdc"}
    assert xml.count("<serial>") == 2
    assert world.vol(boot_volume)["status"] == world.vol(blank_id)["status"] == "in-use"
    assert world.vol(blank_id)["size"] == 2

    world.compute.run(DeleteServer(server_id=uuid.UUID(server_id)), ALICE)
    # Not delete_on_termination: back to available, with no attachment.
    assert world.vol(boot_volume)["status"] == "available"
    assert world.attachments(boot_volume) == []
    assert world.vol(blank_id)["status"] == "deleting"
    world.converge()
    assert world.gone(blank_id)
    assert world.vol(boot_volume)["status"] == "available"
    assert (world.folder / f"volume-{boot_volume}.qcow2").exists()


def test_an_image_server_takes_an_existing_volume_at_boot(world: BootWorld) -> None:
    data = world.volume()
    extra = BlockDevice(source_type="volume", uuid=data, boot_index=-1)
    server_id = world.create([extra], image_ref=world.image())
    server = world.server(server_id)
    assert server["image_id"] != "" and server["task_state"] == "spawning"  # nothing to wait for
    world.converge()
    assert world.server(server_id)["vm_state"] == "active"
    disks = {
        d.volume_id: d.dev for d in world.hv.volume_disks(world.hv.lookup(f"strata-{server_id}"))
    }
    assert disks == {data: "vdc"}
    assert world.vol(data)["status"] == "in-use"


def test_a_volume_that_fails_puts_the_server_in_error_and_leaves_nothing(
    world: BootWorld,
) -> None:
    image = world.image(data=False)  # the storage agent cannot convert it
    root = BlockDevice(
        source_type="image", uuid=image, volume_size=1, boot_index=0, delete_on_termination=True
    )
    server_id = world.create([root])
    (volume_id,) = world.recorded(server_id)
    world.converge()

    server = world.server(server_id)
    assert (server["vm_state"], server["task_state"]) == ("error", None)
    fault = server["body"]["fault"]
    assert fault["code"] == 500
    assert fault["message"].startswith(f"Build of instance {server_id} aborted: Volume {volume_id}")
    assert "did not finish being created" in fault["message"]
    assert "not in the image store" in fault["details"]
    assert world.vol(volume_id)["status"] == "error"
    assert world.hv.lookup(f"strata-{server_id}") is None  # never defined

    world.compute.run(DeleteServer(server_id=uuid.UUID(server_id)), ALICE)
    world.converge()
    assert world.gone(volume_id)
    assert server_id not in world.claims()
    world.compute.runner.catch_up_all()
    ports = world.compute.db.query("SELECT id FROM net_ports WHERE device_id = %s", [server_id])
    assert ports == []
    assert [p.name for p in world.folder.iterdir()] == []


def test_refusals_leave_nothing_behind(world: BootWorld) -> None:
    image = world.image(min_disk=2)
    in_use = world.volume()
    holder = world.create([BlockDevice(source_type="volume", uuid=in_use, boot_index=-1)],
                          image_ref=world.image())  # fmt: skip
    plain = world.volume()  # not bootable
    before = world.compute.db.query("SELECT count(*) AS n FROM compute_servers")[0]["n"]
    cases: list[tuple[list[BlockDevice], str]] = [
        ([BlockDevice(source_type="image", uuid=image, volume_size=1, boot_index=0)],
         "Volume is smaller than the minimum size specified in image metadata"),
        ([BlockDevice(source_type="image", uuid=image, boot_index=0)],
         "need to have a non-zero size specified"),
        ([BlockDevice(source_type="volume", uuid=str(uuid.uuid4()), boot_index=0)],
         "failed to get volume"),
        ([BlockDevice(source_type="volume", uuid=plain, boot_index=0)], "is not bootable"),
        ([BlockDevice(source_type="volume", uuid=in_use, boot_index=-1)],
         "status must be 'available'"),
        ([BlockDevice(source_type="blank", boot_index=-1)], "need to have non-zero size"),
    ]  # fmt: skip
    for devices, message in cases:
        with pytest.raises(InvalidInput, match=message):
            world.create(devices, image_ref=world.image())
    # Bob cannot boot from Alice's volume: it does not exist for him.
    with pytest.raises(InvalidInput, match="failed to get volume"):
        bob_create = CreateServer(
            name="x",
            flavor_ref=world.compute.flavor(flavorid=uuid.uuid4().hex[:8]),
            block_devices=[BlockDevice(source_type="volume", uuid=plain, boot_index=0)],
        )
        world.compute.run(bob_create, BOB)
    after = world.compute.db.query("SELECT count(*) AS n FROM compute_servers")[0]["n"]
    assert after == before
    assert world.vol(plain)["status"] == "available" and world.attachments(plain) == []
    assert [a["server_id"] for a in world.attachments(in_use)] == [holder]


def test_an_attach_committed_before_the_delete_is_freed_by_it(world: BootWorld) -> None:
    """The old race: the delete was built from a read model read before an
    attach committed. The server records its volumes itself, so the delete
    frees the volume all the same."""
    server_id = world.create([], image_ref=world.image())
    world.converge()
    volume_id = world.volume()
    stale = DeleteServer(server_id=uuid.UUID(server_id), volume_ids=[])  # read before the attach
    attach = AttachVolumeToServer(volume_id=uuid.UUID(volume_id), server_id=uuid.UUID(server_id))
    world.compute.run(attach, ALICE)
    assert volume_id in world.recorded(server_id)
    world.compute.run(stale, ALICE)
    assert world.attachments(volume_id) == []
    assert world.vol(volume_id)["status"] == "available"
    # And an attach after the delete meets the deleted server: 409, nothing written.
    with pytest.raises(Conflict, match="task_state deleting"):
        world.compute.run(attach, ALICE)
    assert world.attachments(volume_id) == []


def test_attach_racing_delete_never_leaves_a_volume_on_a_deleted_server(
    world: BootWorld,
) -> None:
    image = world.image()
    for _ in range(4):
        server_id = world.create([], image_ref=image)
        world.converge()
        volume_id = world.volume()
        outcomes: dict[str, object] = {}
        start = threading.Barrier(2)

        def attach(
            volume_id: str = volume_id,
            server_id: str = server_id,
            start: threading.Barrier = start,
            outcomes: dict[str, object] = outcomes,
        ) -> None:
            start.wait()
            command = AttachVolumeToServer(
                volume_id=uuid.UUID(volume_id), server_id=uuid.UUID(server_id)
            )
            try:
                world.bus.dispatch(command, ALICE)
                outcomes["attach"] = "ok"
            except DomainError as error:
                outcomes["attach"] = error

        def delete(
            server_id: str = server_id,
            start: threading.Barrier = start,
            outcomes: dict[str, object] = outcomes,
        ) -> None:
            start.wait()
            world.bus.dispatch(DeleteServer(server_id=uuid.UUID(server_id)), ALICE)
            outcomes["delete"] = "ok"

        threads = [threading.Thread(target=attach), threading.Thread(target=delete)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert outcomes["delete"] == "ok"
        assert outcomes["attach"] == "ok" or isinstance(outcomes["attach"], Conflict)
        # Whichever won, no attachment outlives the server.
        assert world.attachments(volume_id) == []
        assert world.vol(volume_id)["status"] == "available"
