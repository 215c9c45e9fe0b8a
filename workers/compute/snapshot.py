"""A server's disk written into the image store as its snapshot image (the
compute host's half of Nova's createImage).

The job reports three times, each report idempotent: it starts writing
(refused when the snapshot ended meanwhile: nothing is written), the data is
in place (refused when the image went away meanwhile: the file is removed),
or it failed (the image is given up). The server's task ends with the
second or third report, never with a power report; the agent's step timeout
turns a snapshot that hangs into the third.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from infra.image_store import DataFacts, ImageStore
from infra.virt.flatten import flatten
from infra.virt.qemu_img import DiskError
from workers.compute.disks import Disks

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = "qcow2"


class SnapshotReporter(Protocol):
    def snapshot_uploading(self, server_id: str, image_id: str) -> bool: ...
    def snapshot_taken(self, server_id: str, image_id: str, facts: DataFacts) -> bool: ...
    def snapshot_failed(self, server_id: str, image_id: str, reason: str) -> None: ...


class Snapshots:
    def __init__(self, disks: Disks, store: ImageStore, timeout: float) -> None:
        self.disks = disks
        self.store = store
        self.timeout = timeout

    def disk(self, server_id: str) -> Path:
        return self.disks.root / server_id / "disk"

    def take(self, server_id: str, image_id: str) -> DataFacts:
        """The server's disk, flattened, as the image's data in the store."""
        source = self.disk(server_id)
        if not source.is_file():
            raise DiskError(f"server {server_id} has no disk on this host")
        part = self.store.scratch(image_id)
        try:
            if self.disks.qemu_img is None:
                # Only a test-driver host has no qemu-img; its disks are
                # stand-ins no guest reads, copied as they are.
                shutil.copyfile(source, part)
            else:
                flatten(self.disks.qemu_img, source, part, self.timeout)
            return self.store.seal(image_id, part, SNAPSHOT_FORMAT)
        finally:
            part.unlink(missing_ok=True)  # gone already once sealed


def take_snapshot(
    snapshots: Snapshots,
    reporter: SnapshotReporter,
    server_id: str,
    image_id: str,
    step: Callable[[str], None],
) -> None:
    step(f"snapshotting to image {image_id}")
    if not reporter.snapshot_uploading(server_id, image_id):
        return  # ended meanwhile (deleted, timed out) or already taken
    try:
        facts = snapshots.take(server_id, image_id)
    except Exception as error:
        log.warning("server %s: snapshot to %s failed: %s", server_id, image_id, error)
        reporter.snapshot_failed(server_id, image_id, f"Snapshot failed: {error}")
        return
    if not reporter.snapshot_taken(server_id, image_id, facts):
        snapshots.store.remove(image_id)  # no image owns these bytes any more
