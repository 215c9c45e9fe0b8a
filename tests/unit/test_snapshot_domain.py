"""Snapshots on their own: the server's task and the image's end, pure; and
the store taking a file a tool wrote (sealed with the upload path's hashes)."""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import pytest

from domain.compute import states as s
from domain.compute.servers import Server
from domain.errors import Conflict
from infra.image_store import ImageStore
from tests.unit.test_compute_domain import _server
from tests.unit.test_image_domain import ADMIN, finish, new_image


def _active() -> Server:
    server = _server()
    server.schedule("node-1", "nova")
    server.became_active("node-1")
    return server


def test_a_snapshot_keeps_the_status_and_blocks_other_tasks() -> None:
    server = _active()
    server.start_snapshot("img-1")
    assert (server.task_state, server.status, server.snapshot_image_id) == (
        s.IMAGE_SNAPSHOT,
        "ACTIVE",
        "img-1",
    )
    with pytest.raises(Conflict, match=r"Cannot 'stop' instance .* in task_state image_snapshot"):
        server.stop()
    with pytest.raises(Conflict, match=r"Cannot 'createImage' .* in task_state image_snapshot"):
        server.start_snapshot("img-2")


def test_power_reports_never_end_a_snapshot() -> None:
    server = _active()
    server.start_snapshot("img-1")
    server.became_active("node-1")
    assert server.task_state == s.IMAGE_SNAPSHOT
    stopped = _active()
    stopped.stop()
    stopped.stopped()
    stopped.start_snapshot("img-1")
    stopped.stopped()
    assert (stopped.task_state, stopped.status) == (s.IMAGE_SNAPSHOT, "SHUTOFF")


def test_only_the_running_snapshot_ends_and_only_once() -> None:
    server = _active()
    with pytest.raises(Conflict, match="in vm_state building"):
        _server().start_snapshot("img-0")
    server.start_snapshot("img-1")
    assert not server.end_snapshot("img-other", "late report")
    assert server.end_snapshot("img-1", "disk gone")
    assert not server.end_snapshot("img-1", "disk gone")
    assert (server.task_state, server.vm_state, server.fault) == (None, s.ACTIVE, None)
    events = [type(e).__name__ for e in server.collect_events()]
    assert events.count("SnapshotEnded") == 1


def test_an_abandoned_image_is_killed_then_deleted_unless_it_has_its_data() -> None:
    queued = new_image(ADMIN)
    assert queued.abandon("no disk")
    assert (queued.status, queued.deleted) == ("killed", True)
    assert not queued.abandon("again")
    done = new_image(ADMIN)
    done.start_upload(ADMIN)
    finish(done)
    assert not done.abandon("late")
    assert (done.status, done.deleted) == ("active", False)


def test_a_snapshot_upload_starts_once_and_resumes_after_a_restart() -> None:
    image = new_image(ADMIN)
    assert image.begin_snapshot_upload() and image.status == "saving"
    assert image.begin_snapshot_upload()  # an agent restarted mid-write
    image.abandon("timed out")
    assert not image.begin_snapshot_upload()


def test_seal_hashes_a_written_file_and_renames_it(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    part = store.scratch("img-1")
    header = b"QFI\xfb" + b"\0" * 20 + struct.pack(">Q", 5 << 30)
    data = header + os.urandom((3 << 20) + 17)
    part.write_bytes(data)
    assert "img-1" in store.uploading()  # a tool writing counts as arriving
    facts = store.seal("img-1", part, "qcow2")
    assert not part.exists() and store.path("img-1").read_bytes() == data
    assert facts.size == len(data) and facts.virtual_size == 5 << 30
    assert facts.checksum == hashlib.md5(data).hexdigest()
    assert facts.os_hash_value == hashlib.sha512(data).hexdigest()
