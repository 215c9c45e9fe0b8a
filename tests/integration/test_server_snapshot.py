"""Snapshots of servers to images (createImage) on libvirt's test:///default
driver, with real qemu-img disks, the real command bus and read models
(SQLite and PostgreSQL): the image Nova would make, its data, a failure, a
hang, a delete in the middle, and a boot from the snapshot."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from commands.compute.servers import DeleteServer, ServerAction
from commands.compute.snapshots import CreateServerImage
from commands.context import SYSTEM_CONTEXT, Context
from commands.image.uploads import FailUpload
from domain.errors import Conflict, InvalidInput
from domain.image.images import Image
from infra.image_store import DataFacts
from projections.image.queries import ImageQueries
from tests.integration.test_compute_agent_world import (
    AgentWorld,
    make_agent_world,
    needs_libvirt_python,
)
from tests.integration.test_compute_world import ADMIN, ALICE, settings_for
from workers.compute.snapshot import Snapshots

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
PATTERN = "0x5a"


@pytest.fixture(params=BACKENDS)
def aw(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AgentWorld]:
    needs_libvirt_python()
    yield from make_agent_world(settings_for(request.param, tmp_path, request))


def _image(aw: AgentWorld, data: bytes, **props: str) -> str:
    image_id = aw.world.image(len(data), 0, 0, **props)
    (aw.images_dir / image_id).write_bytes(data)
    return image_id


def _snapshot(
    aw: AgentWorld, server_id: str, name: str = "snap", ctx: Context = ALICE, **metadata: str
) -> tuple[str, str]:
    """createImage as `ctx`; the new image's id and the request's id."""
    request_id = f"req-{uuid.uuid4()}"
    command = CreateServerImage(server_id=uuid.UUID(server_id), name=name, metadata=metadata)
    outcome = aw.world.run(command, dataclasses.replace(ctx, request_id=request_id))
    return str(outcome["image_id"]), request_id


def _row(aw: AgentWorld, image_id: str) -> dict[str, Any] | None:
    aw.world.runner.catch_up_all()
    return ImageQueries(aw.world.db).get(image_id)


def _action(aw: AgentWorld, server_id: str, request_id: str) -> dict[str, Any]:
    (found,) = [a for a in aw.world.queries.actions(server_id) if a["request_id"] == request_id]
    return found


def _qemu_info(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    info: dict[str, Any] = json.loads(out.stdout)
    return info


def _guest_writes(disk: Path) -> None:
    """What a guest would have written: a pattern over the first 64 KiB."""
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", f"write -P {PATTERN} 0 64k", str(disk)],
        capture_output=True,
        check=True,
    )


def _reads_pattern(path: Path) -> bool:
    done = subprocess.run(
        ["qemu-io", "-f", "qcow2", "-r", "-c", f"read -P {PATTERN} 0 64k", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0 and "Pattern verification failed" not in done.stdout


@pytest.mark.parametrize("stopped", [False, True], ids=["running", "stopped"])
def test_a_snapshot_becomes_an_active_image_of_the_whole_disk(
    aw: AgentWorld, stopped: bool
) -> None:
    kernel, ramdisk = _image(aw, b"k" * 4096), _image(aw, b"r" * 4096)
    base = _image(
        aw,
        bytes(range(256)) * 1024,  # 256 KiB the snapshot must carry over from the base
        kernel_id=kernel,
        ramdisk_id=ramdisk,
        os_distro="cirros",
        cache_in_nova="True",
    )
    server_id = aw.boot(base)
    aw.converge()
    if stopped:
        aw.world.run(ServerAction(server_id=uuid.UUID(server_id), action="stop"), ALICE)
        aw.converge()
    vm_state = "stopped" if stopped else "active"
    overlay = aw.disks.root / server_id / "disk"
    _guest_writes(overlay)

    image_id, request_id = _snapshot(aw, server_id, "nightly", backup="yes")
    server = aw.server(server_id)
    assert (server["vm_state"], server["task_state"]) == (vm_state, "image_snapshot")
    queued = _row(aw, image_id)
    assert queued is not None and queued["status"] == "queued"
    assert (queued["owner"], queued["visibility"], queued["name"]) == (
        "p-alice",
        "private",
        "nightly",
    )
    assert (queued["disk_format"], queued["container_format"]) == ("qcow2", "bare")
    assert (queued["min_disk"], queued["min_ram"]) == (1, 0)  # the flavor's 1 GB root disk
    props = queued["properties"]
    assert props["image_type"] == "snapshot" and props["instance_uuid"] == server_id
    assert props["base_image_ref"] == base and props["user_id"] == "alice"
    assert (props["kernel_id"], props["ramdisk_id"]) == (kernel, ramdisk)
    assert props["os_distro"] == "cirros" and props["backup"] == "yes"
    assert "cache_in_nova" not in props

    aw.converge()
    image = _row(aw, image_id)
    assert image is not None and image["status"] == "active"
    data = aw.images_dir / image_id
    content = data.read_bytes()
    assert image["size"] == len(content)
    assert image["checksum"] == hashlib.md5(content).hexdigest()
    assert image["os_hash_algo"] == "sha512"
    assert image["os_hash_value"] == hashlib.sha512(content).hexdigest()
    info = _qemu_info(data)
    assert info["format"] == "qcow2" and "backing-filename" not in info  # flattened
    assert image["virtual_size"] == info["virtual-size"] == _qemu_info(overlay)["virtual-size"]
    assert _reads_pattern(data)  # the guest's writes
    compare = subprocess.run(["qemu-img", "compare", "-U", str(overlay), str(data)], check=False)
    assert compare.returncode == 0  # and everything the base gave the guest
    assert not [p for p in aw.images_dir.iterdir() if p.name.endswith(".part")]

    server = aw.server(server_id)
    assert (server["vm_state"], server["task_state"]) == (vm_state, None)
    assert server["body"].get("snapshot_image_id") is None
    action = _action(aw, server_id, request_id)
    assert action["action"] == "createImage" and action["user_id"] == "alice"
    (step,) = action["events"]
    assert (step["event"], step["result"]) == ("compute_snapshot_instance", "Success")
    assert action["message"] is None


def test_a_server_boots_from_its_snapshot(aw: AgentWorld) -> None:
    source = aw.boot()
    aw.converge()
    _guest_writes(aw.disks.root / source / "disk")
    image_id, _ = _snapshot(aw, source)
    aw.converge()
    clone = aw.boot(image_id, name="clone")
    aw.converge()
    server = aw.server(clone)
    assert (server["vm_state"], server["task_state"]) == ("active", None)
    assert server["image_id"] == image_id
    disk = aw.disks.root / clone / "disk"
    assert Path(_qemu_info(disk)["backing-filename"]).name == image_id
    assert _reads_pattern(disk)  # the clone sees what the source's guest wrote


def test_snapshots_refuse_the_wrong_state(aw: AgentWorld) -> None:
    server_id = aw.boot()  # still BUILD: no agent pass yet
    with pytest.raises(Conflict, match=r"Cannot 'createImage' instance .* in vm_state building"):
        _snapshot(aw, server_id)
    aw.converge()
    _snapshot(aw, server_id)
    with pytest.raises(Conflict, match="in task_state image_snapshot"):
        _snapshot(aw, server_id)
    with pytest.raises(Conflict, match=r"Cannot 'stop' instance .* in task_state image_snapshot"):
        aw.world.run(ServerAction(server_id=uuid.UUID(server_id), action="stop"), ALICE)
    # Nothing was saved for the refused requests: one image for this server.
    aw.world.runner.catch_up_all()
    queries = ImageQueries(aw.world.db)
    rows = [queries.get(i) for i in queries.ids()]
    mine = [r for r in rows if r and r["properties"].get("instance_uuid") == server_id]
    assert len(mine) == 1


def test_an_admin_snapshot_of_another_project_is_shared_with_it(aw: AgentWorld) -> None:
    server_id = aw.boot()
    aw.converge()
    image_id, _ = _snapshot(aw, server_id, ctx=ADMIN)
    image = _row(aw, image_id)
    assert image is not None
    assert (image["owner"], image["visibility"]) == ("p-admin", "shared")
    assert image["properties"]["instance_owner"] == "p-alice"
    stored = aw.world.store.get(Image, uuid.UUID(image_id))
    assert stored is not None and "p-alice" in stored.members


def test_bad_metadata_is_refused_with_nothing_saved(aw: AgentWorld) -> None:
    server_id = aw.boot()
    aw.converge()
    with pytest.raises(InvalidInput):
        _snapshot(aw, server_id, kernel_id="not-a-uuid")
    server = aw.server(server_id)
    assert server["task_state"] is None


def _killed(aw: AgentWorld, image_id: str) -> Image:
    """The image's last state from the log (deleted images leave no row)."""
    assert _row(aw, image_id) is None
    image = aw.world.store.get(Image, uuid.UUID(image_id))
    assert image is not None and image.deleted and image.status == "killed"
    return image


def test_a_failed_snapshot_kills_the_image_and_leaves_the_server_running(
    aw: AgentWorld,
) -> None:
    server_id = aw.boot()
    aw.converge()
    (aw.disks.root / server_id / "disk").unlink()  # nothing left to read
    image_id, request_id = _snapshot(aw, server_id)
    aw.converge()
    _killed(aw, image_id)
    assert not (aw.images_dir / image_id).exists()
    server = aw.server(server_id)
    assert (server["vm_state"], server["task_state"]) == ("active", None)
    assert server["body"]["fault"] is None
    action = _action(aw, server_id, request_id)
    assert action["message"] == "Error"
    (step,) = action["events"]
    assert step["result"] == "Error"
    assert "has no disk on this host" in step["traceback"]


class _Gate:
    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()


def _hold(aw: AgentWorld) -> _Gate:
    """Make the agent's snapshots wait, mid-job, until released (a slow disk)."""
    gate = _Gate()
    real = aw.agent.snapshots

    class Held(Snapshots):
        def take(self, server_id: str, image_id: str) -> DataFacts:
            gate.entered.set()
            gate.release.wait(30)
            return super().take(server_id, image_id)

    aw.agent.snapshots = Held(real.disks, real.store, real.timeout)
    return gate


def _host_state(aw: AgentWorld) -> dict[str, Any]:
    from projections.compute.host_state import compute_host_state

    aw.world.runner.catch_up_all()
    return compute_host_state(aw.world.db, "node-1")


def test_deleting_the_server_during_a_snapshot_ends_its_image(aw: AgentWorld) -> None:
    server_id = aw.boot()
    aw.converge()
    gate = _hold(aw)
    image_id, request_id = _snapshot(aw, server_id)
    aw.agent.converge(_host_state(aw))
    assert gate.entered.wait(10)
    saving = _row(aw, image_id)
    assert saving is not None and saving["status"] == "saving"
    aw.world.run(DeleteServer(server_id=uuid.UUID(server_id)), ALICE)
    _killed(aw, image_id)  # at once, in the delete's transaction
    gate.release.set()
    aw.converge()  # the job writes the data, is told nobody wants it, removes it
    assert not (aw.images_dir / image_id).exists()
    assert aw.domain(server_id) is None
    action = _action(aw, server_id, request_id)
    assert action["events"][0]["result"] == "Error"


def test_deleting_the_server_before_the_agent_starts(aw: AgentWorld) -> None:
    server_id = aw.boot()
    aw.converge()
    image_id, _ = _snapshot(aw, server_id)
    aw.world.run(DeleteServer(server_id=uuid.UUID(server_id)), ALICE)
    aw.converge()
    _killed(aw, image_id)
    assert not (aw.images_dir / image_id).exists()


def test_a_snapshot_that_hangs_times_out_without_error_on_the_server(tmp_path: Path) -> None:
    needs_libvirt_python()
    now = [0.0]
    worlds = make_agent_world(
        settings_for("sqlite", tmp_path, None),  # type: ignore[arg-type]
        clock=lambda: now[0],
        step_timeout=60,
    )
    aw = next(worlds)
    gate = _Gate()
    try:
        server_id = aw.boot()
        aw.converge()
        gate = _hold(aw)
        image_id, request_id = _snapshot(aw, server_id)
        aw.agent.converge(_host_state(aw))
        assert gate.entered.wait(10)
        now[0] = 61.0
        aw.agent.converge(_host_state(aw))  # the job is still in its step
        _killed(aw, image_id)
        server = aw.server(server_id)
        assert (server["vm_state"], server["task_state"]) == ("active", None)
        step = _action(aw, server_id, request_id)["events"][0]
        assert step["result"] == "Error"
        assert "Timed out after 60s while snapshotting to image" in step["traceback"]
        gate.release.set()
        aw.agent.wait_idle()
        assert not (aw.images_dir / image_id).exists()  # written late, then removed
    finally:
        gate.release.set()
        next(worlds, None)


def test_an_image_service_restart_mid_snapshot_does_not_lose_it(aw: AgentWorld) -> None:
    server_id = aw.boot()
    aw.converge()
    gate = _hold(aw)
    image_id, _ = _snapshot(aw, server_id)
    aw.agent.converge(_host_state(aw))
    assert gate.entered.wait(10)
    # What recover_uploads does at a start of the image API: no file seen yet.
    reason = "upload interrupted: the process receiving it stopped"
    aw.world.run(FailUpload(image_id=uuid.UUID(image_id), reason=reason), SYSTEM_CONTEXT)
    row = _row(aw, image_id)
    assert row is not None and row["status"] == "queued"
    gate.release.set()
    aw.converge()
    row = _row(aw, image_id)
    assert row is not None and row["status"] == "active"
    assert row["size"] == (aw.images_dir / image_id).stat().st_size
    assert aw.server(server_id)["task_state"] is None
