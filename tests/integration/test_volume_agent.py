"""The storage agent on real qcow2 files, without a cloud: a pass repeated
after a lost report finishes instead of redoing, a freeze interrupted between
its renames is recovered, and snapshots and clones copy no data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infra.volume_files import VolumeFiles
from workers.storage.agent import StorageAgent

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")


def state(
    volumes: list[dict[str, object]], snapshots: list[dict[str, object]] | None = None
) -> dict[str, object]:
    return {"host": "h", "facts": {}, "volumes": volumes, "snapshots": snapshots or []}


def vol(ident: str, status: str = "creating", size: int = 1, **source: object) -> dict[str, object]:
    return {"id": ident, "status": status, "size": size, "target_size": size,
            "source": source or {"kind": "empty"}, "freezes": []}  # fmt: skip


def test_a_repeated_pass_reports_again_without_redoing(tmp_path: Path) -> None:
    files = VolumeFiles(tmp_path)
    agent = StorageAgent(files, tmp_path / "images")
    first = agent.converge(state([vol("a")]))
    made = files.path("volume-a.qcow2").stat().st_mtime_ns
    again = agent.converge(state([vol("a")]))  # the first report was lost
    assert first.provisioned == again.provisioned == ["a"]
    assert files.path("volume-a.qcow2").stat().st_mtime_ns == made
    settled = agent.converge(state([vol("a", "available")]), full=True)
    assert settled.empty()


def test_a_freeze_interrupted_between_renames_is_finished(tmp_path: Path) -> None:
    files = VolumeFiles(tmp_path)
    files.create_empty("volume-a.qcow2", 1)
    files.freeze("volume-a.qcow2", "snapshot-s.qcow2")
    files.freeze("volume-a.qcow2", "snapshot-s.qcow2")  # idempotent
    assert files.chain("volume-a.qcow2") == ["volume-a.qcow2", "snapshot-s.qcow2"]
    # A crash after the first rename of a second freeze: the volume's file
    # is gone and its next overlay waits beside it.
    files.path("volume-a.qcow2").rename(files.path("volume-a.qcow2.next"))
    agent = StorageAgent(files, tmp_path / "images")
    report = agent.converge(state([vol("a", "available")], [
        {"id": "s", "volume_id": "a", "status": "available", "size": 1}]), full=True)  # fmt: skip
    assert report.failed == {} and files.exists("volume-a.qcow2")


def test_snapshot_and_clone_chains_and_sweep(tmp_path: Path) -> None:
    files = VolumeFiles(tmp_path)
    agent = StorageAgent(files, tmp_path / "images")
    agent.converge(state([vol("a", size=2)]))
    snap = {"id": "s", "volume_id": "a", "status": "creating", "size": 2}
    report = agent.converge(state([vol("a", "available", 2)], [snap]))
    assert report.snapshots_available == ["s"]
    volumes = [
        vol("a", "available", 2),
        vol("b", size=5, kind="snapshot", id="s"),
        vol("c", size=2, kind="volume", id="a"),
    ]
    snap["status"] = "available"
    report = agent.converge(state(volumes, [snap]), full=True)
    assert sorted(report.provisioned) == ["b", "c"] and report.removed_files == []
    assert files.size_gb("volume-b.qcow2") == 5
    assert files.chain("volume-c.qcow2") == ["volume-c.qcow2", "clone-c.qcow2", "snapshot-s.qcow2"]
    # Everything gone but c: what c reads through stays, the rest goes.
    report = agent.converge(state([vol("c", "available", 2)]), full=True)
    assert sorted(report.removed_files) == ["volume-a.qcow2", "volume-b.qcow2"]
    assert sorted(files.names()) == ["clone-c.qcow2", "snapshot-s.qcow2", "volume-c.qcow2"]
