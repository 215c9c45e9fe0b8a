"""Block storage through the bus and a storage agent on real qcow2 files, on
SQLite and PostgreSQL: create (empty, from image, snapshot, volume), extend,
snapshots, delete; bad requests leave nothing behind; reconcile."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from commands.volume.snapshots import CreateSnapshot, DeleteSnapshot
from commands.volume.volumes import CreateVolume, DeleteVolume, ExtendVolume
from domain.errors import Conflict, DomainError, InvalidInput, NotFound
from infra.volume_files import GIB, VolumeFiles
from tests.integration.test_volume_world import ALICE, BOB, VolumeWorld, make_world, settings_for

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VolumeWorld]:
    yield from make_world(settings_for(request.param, tmp_path, request), tmp_path)


def _create(world: VolumeWorld, **values: object) -> str:
    return str(world.run(CreateVolume(**values))["id"])  # type: ignore[arg-type]


def test_empty_volume_extend_snapshot_clones_and_delete(world: VolumeWorld) -> None:
    vol = _create(world, size=1, name="data")
    assert world.volume(vol)["status"] == "creating"
    world.converge()
    assert world.volume(vol)["status"] == "available"
    files = VolumeFiles(world.folder)
    assert files.size_gb(f"volume-{vol}.qcow2") == 1

    world.run(ExtendVolume(volume_id=vol, new_size=2))
    assert world.volume(vol)["status"] == "extending"
    world.converge()
    assert (world.volume(vol)["status"], world.volume(vol)["size"]) == ("available", 2)
    assert files.size_gb(f"volume-{vol}.qcow2") == 2

    snap = str(world.run(CreateSnapshot(volume_id=vol, name="s1"))["id"])
    world.converge()
    assert world.snapshot(snap)["status"] == "available"  # type: ignore[index]
    # The volume now writes to an overlay on the snapshot's frozen file.
    assert files.chain(f"volume-{vol}.qcow2") == [f"volume-{vol}.qcow2", f"snapshot-{snap}.qcow2"]

    from_snap = _create(world, snapshot_id=snap, size=3)
    clone = _create(world, source_volid=vol)
    world.converge()
    assert world.volume(from_snap)["status"] == "available"
    assert world.volume(clone)["status"] == "available"
    assert world.volume(clone)["size"] == 2
    assert files.size_gb(f"volume-{from_snap}.qcow2") == 3
    assert f"clone-{clone}.qcow2" in files.chain(f"volume-{clone}.qcow2")

    with pytest.raises(InvalidInput, match="dependent snapshots"):
        world.run(DeleteVolume(volume_id=vol))
    world.run(DeleteSnapshot(snapshot_id=snap))
    world.converge(full=True)
    assert world.snapshot(snap) is None
    # Still the backing file of the volume and of the one made from it.
    assert files.exists(f"snapshot-{snap}.qcow2")
    for ident in (vol, from_snap, clone):
        world.run(DeleteVolume(volume_id=ident))
    world.converge()
    with pytest.raises(AssertionError):
        world.volume(vol)
    world.converge(full=True)
    assert files.names() == []


def test_volume_from_image_converts_the_image_data(world: VolumeWorld) -> None:
    from tests.integration.test_compute_world import ADMIN
    from tests.integration.test_volume_world import new_id  # noqa: F401

    raw = world.folder.parent / "img"
    raw.write_bytes(b"\x01" * 4096)
    image_id = _image(world, ADMIN, raw)
    vol = _create(world, image_id=image_id, size=1)
    world.converge()
    doc = world.volume(vol)
    assert doc["status"] == "available" and doc["bootable"]
    assert doc["source"]["image_metadata"]["image_id"] == image_id
    copy = world.folder.parent / "copy.raw"
    subprocess.run(
        ["qemu-img", "convert", "-O", "raw", str(world.folder / f"volume-{vol}.qcow2"), str(copy)],
        check=True,
    )
    with copy.open("rb") as data:
        assert data.read(4097) == b"\x01" * 4096 + b"\x00"
    copy.unlink()
    missing = _image(world, ADMIN, None)
    failed = _create(world, image_id=missing, size=1)
    world.converge()
    assert world.volume(failed)["status"] == "error"
    assert "not in the image store" in world.volume(failed)["reason"]


def _image(world: VolumeWorld, ctx: object, data: Path | None) -> str:
    import hashlib

    from commands.image.images import CreateImage
    from commands.image.uploads import FinishUpload, StartUpload

    image_id = world.run(
        CreateImage(owner="p-admin", name="img", visibility="public", disk_format="raw",
                    container_format="bare", min_disk=0, min_ram=0, properties={}),
        ctx,  # type: ignore[arg-type]
    )["id"]  # fmt: skip
    world.run(StartUpload(image_id=image_id), ctx)  # type: ignore[arg-type]
    body = data.read_bytes() if data else b"x"
    if data is not None:
        data.rename(world.images / str(image_id))
    world.run(
        FinishUpload(image_id=image_id, size=len(body), virtual_size=len(body),
                     checksum=hashlib.md5(body).hexdigest(), os_hash_algo="sha512",
                     os_hash_value=hashlib.sha512(body).hexdigest()),
        ctx,  # type: ignore[arg-type]
    )  # fmt: skip
    return str(image_id)


@pytest.mark.parametrize(
    ("values", "error", "message"),
    [
        ({"size": 0}, InvalidInput, "greater than 0"),
        ({"size": 1, "volume_type": "gold"}, NotFound, "Volume type with name gold"),
        ({"size": 1, "availability_zone": "mars"}, InvalidInput, "Availability zone"),
        ({"size": 1, "image_id": "not-an-image"}, InvalidInput, "image"),
        ({"source_volid": "8c1e0a49-7b0c-4f3a-9a57-0d7e1f3a2b4c"}, NotFound, "could not be found"),
    ],
)
def test_bad_creates_leave_nothing(
    world: VolumeWorld, values: dict[str, object], error: type[DomainError], message: str
) -> None:
    before = world.store.max_notification_id()
    with pytest.raises(error, match=message):
        world.run(CreateVolume(**values))  # type: ignore[arg-type]
    assert world.store.max_notification_id() == before


def test_state_rules_name_the_state(world: VolumeWorld) -> None:
    vol = _create(world, size=2)
    with pytest.raises(Conflict, match="current status is: creating"):
        world.run(ExtendVolume(volume_id=vol, new_size=3))
    world.converge()
    with pytest.raises(InvalidInput, match="greater than current size"):
        world.run(ExtendVolume(volume_id=vol, new_size=1))
    snap = str(world.run(CreateSnapshot(volume_id=vol))["id"])
    world.converge()
    with pytest.raises(InvalidInput, match="cannot be smaller"):
        world.run(CreateVolume(snapshot_id=snap, size=1))
    with pytest.raises(NotFound):
        world.run(DeleteVolume(volume_id=vol), BOB)
    assert world.volume(vol)["project_id"] == ALICE.project_id


def test_reconcile_fails_a_volume_whose_file_vanished_and_removes_strays(
    world: VolumeWorld,
) -> None:
    vol = _create(world, size=1)
    world.converge()
    (world.folder / f"volume-{vol}.qcow2").unlink()
    (world.folder / "stray.qcow2").write_bytes(b"junk")
    report = world.converge(full=True)
    assert "stray.qcow2" in report.removed_files
    doc = world.volume(vol)
    assert doc["status"] == "error" and "missing" in doc["reason"]
    assert GIB > 0


def test_replay_rebuilds_the_same_rows(world: VolumeWorld) -> None:
    from projections.volume.tables import TABLES

    vol = _create(world, size=1, name="r", metadata={"k": "v"})
    world.converge()
    snap = str(world.run(CreateSnapshot(volume_id=vol))["id"])
    world.converge()
    _create(world, snapshot_id=snap)
    world.run(ExtendVolume(volume_id=vol, new_size=2))
    world.converge()

    def rows() -> dict[str, list[dict[str, object]]]:
        return {
            t.name: sorted((dict(r) for r in world.queries.rows(t.name, {})), key=str)
            for t in TABLES
        }

    before = rows()
    world.runner.rebuild("volume")
    assert rows() == before and before["volume_volumes"]


def test_upload_to_image_activates_the_image_with_the_volumes_data(world: VolumeWorld) -> None:
    from commands.volume.uploads import UploadVolumeToImage
    from domain.image.images import Image

    vol = _create(world, size=1)
    world.converge()
    outcome = world.run(
        UploadVolumeToImage(volume_id=vol, image_name="backup", disk_format="qcow2")
    )
    assert world.volume(vol)["status"] == "uploading"
    with pytest.raises(Conflict, match="uploading"):
        world.run(DeleteVolume(volume_id=vol))
    report = world.converge()
    assert list(report.uploaded) == [vol]
    assert world.volume(vol)["status"] == "available"
    image = world.store.get(Image, outcome["image_id"])
    assert image is not None and image.status == "active" and image.min_disk == 1
    data = world.images / str(outcome["image_id"])
    assert image.size == data.stat().st_size and image.virtual_size == GIB
    assert not list(world.folder.glob(".export-*"))
