"""The storage agent: make each volume's and snapshot's file what its status asks.

`converge(state, full)` is the whole contract. It acts on transient statuses
(creating, extending, deleting; snapshots creating and deleting), each step
idempotent, so a pass repeated after a crash finishes the work instead of
doing it twice. A full pass also reconciles: a settled volume whose file is
missing fails with the reason, and files nobody owns — neither a live volume
or snapshot nor a backing file under one — are removed.

Snapshot and clone files are backing files: a snapshot freezes the volume's
file under the snapshot's name; a clone freezes its source under
`clone-<new id>`; a volume from a snapshot is an overlay on it. No step copies
volume data, so their time does not depend on the volume's size.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from domain.volume import states as s
from domain.volume.hosts import volume_file_name
from infra.image_store import ImageStore, chunks
from infra.volume_files import PART, VolumeFileError, VolumeFiles
from workers.storage.report import Report

log = logging.getLogger(__name__)

Doc = dict[str, Any]
SETTLED = (s.AVAILABLE, s.RESERVED, s.ATTACHING, s.IN_USE, s.DETACHING)


def snapshot_file_name(snapshot_id: str) -> str:
    return f"snapshot-{snapshot_id}.qcow2"


def clone_base_name(volume_id: str) -> str:
    return f"clone-{volume_id}.qcow2"


class StorageAgent:
    def __init__(self, files: VolumeFiles, images_dir: Path) -> None:
        self.files = files
        self.images_dir = images_dir
        self._lock = threading.Lock()  # one pass at a time

    def converge(self, state: Doc, full: bool = False) -> Report:
        with self._lock:
            report = Report()
            volumes = {v["id"]: v for v in state["volumes"]}
            for snap in state["snapshots"]:
                self._snapshot(snap, volumes, report)
            for volume in state["volumes"]:
                self._volume(volume, report, full)
            if full:
                self._sweep(state, report)
            return report

    # -- volumes --------------------------------------------------------------------
    def _volume(self, v: Doc, report: Report, full: bool) -> None:
        name = volume_file_name(v["id"])
        try:
            if v["status"] == s.CREATING:
                self._create(v, name)
                report.provisioned.append(v["id"])
            elif v["status"] == s.EXTENDING:
                self.files.resize(name, int(v["target_size"]))
                report.extended[v["id"]] = int(v["target_size"])
            elif v["status"] == s.UPLOADING and v.get("upload"):
                self._upload(v, name, report)
            elif v["status"] == s.DELETING:
                self.files.remove(name)
                report.gone.append(v["id"])
            elif full and v["status"] in SETTLED:
                self.files.recover(name)
                if not self.files.exists(name):
                    report.failed[v["id"]] = f"The volume's file {name} is missing on its host."
        except (VolumeFileError, OSError) as error:
            log.warning("volume %s (%s) failed: %s", v["id"], v["status"], error)
            report.failed[v["id"]] = str(error)

    def _upload(self, v: Doc, name: str, report: Report) -> None:
        """Convert the volume into the image store (all again if a report was lost:
        the store only ever renames a complete file into place)."""
        image_id, disk_format = str(v["upload"]["image_id"]), str(v["upload"]["disk_format"])
        exported = self.files.path(f".export-{image_id}{PART}")
        upload = None
        try:
            self.files.export(name, disk_format, exported)
            upload = ImageStore(self.images_dir).begin(image_id, disk_format)
            with exported.open("rb") as data:
                for piece in chunks(data):
                    upload.write(piece)
            report.uploaded[v["id"]] = (image_id, upload.commit())
        except (VolumeFileError, OSError) as error:
            if upload is not None:
                upload.discard()
            log.warning("upload of volume %s failed: %s", v["id"], error)
            report.uploads_failed[v["id"]] = (image_id, str(error))
        finally:
            exported.unlink(missing_ok=True)

    def _create(self, v: Doc, name: str) -> None:
        self.files.recover(name)
        if self.files.exists(name):
            return  # made by an earlier pass whose report was lost
        size, source = int(v["size"]), v["source"]
        kind = source.get("kind", "empty")
        if kind == "empty":
            self.files.create_empty(name, size)
        elif kind == "image":
            image = self.images_dir / str(source["id"])
            if not image.exists():
                raise VolumeFileError(
                    f"The data of image {source['id']} is not in the image store."
                )
            self.files.convert(image, str(source.get("disk_format", "raw")), name, size)
        elif kind == "snapshot":
            base = snapshot_file_name(str(source["id"]))
            if not self.files.exists(base):
                raise VolumeFileError(f"The file of snapshot {source['id']} is missing.")
            self.files.create_overlay(name, base, size)
        elif kind == "volume":
            base = clone_base_name(v["id"])
            origin = volume_file_name(str(source["id"]))
            if not self.files.exists(base):
                if not self.files.exists(origin):
                    raise VolumeFileError(f"The file of source volume {source['id']} is missing.")
                self.files.freeze(origin, base)
            self.files.create_overlay(name, base, size)
        else:
            raise VolumeFileError(f"Unknown volume source {kind!r}.")

    # -- snapshots ------------------------------------------------------------------
    def _snapshot(self, snap: Doc, volumes: dict[str, Doc], report: Report) -> None:
        name = snapshot_file_name(snap["id"])
        try:
            if snap["status"] == s.SNAP_CREATING:
                volume = volumes.get(snap["volume_id"])
                if volume is None:
                    raise VolumeFileError(f"Volume {snap['volume_id']} is not on this host.")
                self.files.freeze(volume_file_name(volume["id"]), name)
                report.snapshots_available.append(snap["id"])
            elif snap["status"] == s.SNAP_DELETING:
                # The file stays while a volume still reads through it; the
                # sweep removes it once nothing does.
                report.snapshots_gone.append(snap["id"])
        except (VolumeFileError, OSError) as error:
            log.warning("snapshot %s failed: %s", snap["id"], error)
            report.snapshots_failed[snap["id"]] = str(error)

    # -- reconcile ------------------------------------------------------------------
    def _sweep(self, state: Doc, report: Report) -> None:
        owned = {
            volume_file_name(v["id"]) for v in state["volumes"] if v["status"] not in (s.DELETING,)
        } | {
            snapshot_file_name(p["id"])
            for p in state["snapshots"]
            if p["status"] not in (s.SNAP_DELETING,)
        }
        keep: set[str] = set()
        for name in sorted(owned):
            if self.files.exists(name):
                try:
                    keep.update(self.files.chain(name))
                except VolumeFileError as error:
                    log.warning("cannot read the chain of %s: %s", name, error)
                    return  # never remove what an unreadable chain might need
        for name in self.files.names():
            if name not in keep:
                self.files.remove(name)
                report.removed_files.append(name)
