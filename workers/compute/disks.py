"""A compute host's files: the image cache and one folder per server.

    <instances>/_base/<image_id>      image bytes, copied from the store once
    <instances>/<server_id>/disk      qcow2 overlay over the cached base
    <instances>/<server_id>/seed.iso  NoCloud seed
    <instances>/<server_id>/console.log

Every file is written beside its final name and renamed into place, so a
crash in the middle leaves either nothing or a whole file, and the next pass
simply carries on. Folders are world-traversable (0755) because qemu runs as
its own user under qemu:///system and must reach the disks libvirt labels.

Without qemu-img or an ISO tool (a machine with only libvirt's test driver)
`placeholders` writes small stand-in files: the test driver never reads them.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from pathlib import Path

from infra.virt import qemu_img
from infra.virt.qemu_img import DiskError
from infra.virt.seed import SeedData, render_seed, write_seed

BASE = "_base"
CONSOLE_TAIL = 64 * 1024  # what the control plane keeps (domain MAX_CONSOLE_CHARS)


class Disks:
    def __init__(
        self,
        root: Path,
        images_dir: Path,
        qemu_img_path: str | None,
        iso_tool: list[str] | None,
        placeholders: bool = False,
    ) -> None:
        self.root = root
        self.images_dir = images_dir
        self.qemu_img = qemu_img_path
        self.iso_tool = iso_tool
        self.placeholders = placeholders
        self._image_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        for folder in (root, root / BASE):
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o755)

    def instance_dir(self, server_id: str) -> Path:
        folder = self.root / server_id
        if not folder.exists():
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o755)
        return folder

    def console_path(self, server_id: str) -> Path:
        return self.root / server_id / "console.log"

    def _lock(self, image_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._image_locks.setdefault(image_id, threading.Lock())

    def cached(self, image_id: str) -> tuple[Path, str]:
        """The image's bytes on this host and their real format; copied once,
        however many servers boot from it at the same time."""
        dest = self.root / BASE / image_id
        with self._lock(image_id):
            if not dest.exists():
                source = self.images_dir / image_id
                if not source.is_file():
                    raise DiskError(f"image {image_id} has no data in the image store")
                part = dest.with_name(f".{image_id}.{uuid.uuid4().hex[:8]}.part")
                try:
                    shutil.copyfile(source, part)
                    part.chmod(0o644)
                    os.replace(part, dest)
                finally:
                    part.unlink(missing_ok=True)
        if self.qemu_img is None:
            return dest, "raw"
        return dest, qemu_img.check_base(self.qemu_img, dest).format

    def overlay(self, server_id: str, image_id: str, size_gb: int) -> Path:
        dest = self.instance_dir(server_id) / "disk"
        if dest.exists():
            return dest  # never recreated: it holds the guest's writes
        base, fmt = self.cached(image_id)
        part = dest.with_name("disk.part")
        part.unlink(missing_ok=True)
        if self.qemu_img is None:
            if not self.placeholders:
                raise DiskError("qemu-img is not installed on this host")
            part.write_text(f"test driver stand-in for an overlay on {base}\n")
        else:
            qemu_img.create_overlay(self.qemu_img, base, fmt, part, size_gb)
        os.replace(part, dest)
        return dest

    def seed(self, server_id: str, data: SeedData) -> Path:
        dest = self.instance_dir(server_id) / "seed.iso"
        files = render_seed(data)
        if self.iso_tool is None and self.placeholders:
            part = dest.with_name("seed.part")
            part.write_text(json.dumps({k: v.decode(errors="replace") for k, v in files.items()}))
            os.replace(part, dest)
        else:
            write_seed(files, dest, self.iso_tool)
        return dest

    def append_console(self, server_id: str, line: str) -> None:
        with self.console_path(server_id).open("a") as log:
            log.write(line.rstrip("\n") + "\n")

    def console_version(self, server_id: str) -> float | None:
        """Changes whenever the log grows or is rewritten (None: no log yet);
        a stat, so a pass over many quiet servers reads no log at all."""
        try:
            stat = self.console_path(server_id).stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime + stat.st_size

    def console_tail(self, server_id: str) -> str:
        """The last 64 KiB of the serial log, as text."""
        try:
            with self.console_path(server_id).open("rb") as log:
                log.seek(max(0, os.fstat(log.fileno()).st_size - CONSOLE_TAIL))
                data = log.read(CONSOLE_TAIL)
        except FileNotFoundError:
            return ""
        # A serial console carries NULs and stray bytes; the API wants text.
        return data.replace(b"\0", b"").decode(errors="replace")

    def remove(self, server_id: str) -> None:
        shutil.rmtree(self.root / server_id, ignore_errors=True)

    def instance_ids(self) -> set[str]:
        """Server folders on disk (named by server id; anything else is not ours)."""
        found = set()
        for path in self.root.iterdir():
            try:
                found.add(str(uuid.UUID(path.name)))
            except ValueError:
                continue
        return found

    def prune_base(self, in_use: set[str], min_age: float) -> list[str]:
        """Remove cached images not in `in_use` whose last use (their mtime)
        is more than `min_age` seconds ago, and mark those in use as used
        now; never one being copied (its lock is held). Also removes copies
        a crash left behind, as old. What was removed, by image id."""
        now = time.time()
        removed = []
        for path in sorted((self.root / BASE).iterdir()):
            # `.<image_id>.<random>.part`: a copy in progress, or a crash's debris.
            part = path.name.startswith(".") and path.name.endswith(".part")
            image_id = path.name.split(".")[1] if part else path.name
            lock = self._lock(image_id)
            if not lock.acquire(blocking=False):
                continue
            try:
                if not part and image_id in in_use:
                    os.utime(path, (now, now))
                elif now - path.stat().st_mtime > min_age:
                    path.unlink()
                    if not part:
                        removed.append(image_id)
            except FileNotFoundError:
                continue
            finally:
                lock.release()
        return removed
