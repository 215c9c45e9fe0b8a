"""Image data on local disk: one file per image, written beside its final
name and renamed into place only once every byte arrived.

The hashes Glance reports (md5 `checksum`, sha512 `os_hash_value`) and the
size are computed while the bytes stream through, so an upload never needs
the whole image in memory or a second read. A failed upload leaves no file:
the temporary one is removed, and `sweep` clears what a crash left behind.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import struct
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

PART_SUFFIX = ".part"
HASH_ALGO = "sha512"
CHUNK = 1 << 20
HEADER_BYTES = 512
QCOW2_MAGIC = b"QFI\xfb"
# A temporary file untouched for this long belongs to no living upload.
STALE_SECONDS = 24 * 3600
# An upload whose file has not grown for this long is taken for dead.
IDLE_UPLOAD_SECONDS = 600


@dataclass(frozen=True)
class DataFacts:
    size: int
    checksum: str
    os_hash_algo: str
    os_hash_value: str
    virtual_size: int | None


def virtual_size(header: bytes, size: int, disk_format: str | None) -> int | None:
    """The disk size a guest sees: qcow2 says so in its header; raw is its size."""
    if header[:4] == QCOW2_MAGIC and len(header) >= 32:
        return int(struct.unpack(">Q", header[24:32])[0])
    if disk_format in ("raw", "iso"):
        return size
    return None


class Upload:
    """One image's bytes on their way to the store; not thread-safe, one writer.

    md5, sha512 and the disk write each run at a few hundred MB/s on one core;
    done one after the other they cap an upload well below what the network
    brings. hashlib and file writes release the GIL, so each piece is hashed
    twice and written at the same time on three threads.
    """

    def __init__(self, part: Path, final: Path, disk_format: str | None) -> None:
        self.part = part
        self.final = final
        self.disk_format = disk_format
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha = hashlib.new(HASH_ALGO)
        self._header = b""
        self._file: BinaryIO | None = part.open("xb")
        self._hashers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="image-hash")

    def write(self, data: bytes) -> None:
        assert self._file is not None, "upload already closed"
        if len(self._header) < HEADER_BYTES:
            self._header += data[: HEADER_BYTES - len(self._header)]
        md5 = self._hashers.submit(self._md5.update, data)
        sha = self._hashers.submit(self._sha.update, data)
        try:
            self._file.write(data)
        finally:
            md5.result()
            sha.result()
        self.size += len(data)

    def commit(self) -> DataFacts:
        """Make the data durable under its final name and say what it was."""
        assert self._file is not None, "upload already closed"
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        self._hashers.shutdown()
        os.replace(self.part, self.final)
        return DataFacts(
            size=self.size,
            checksum=self._md5.hexdigest(),
            os_hash_algo=HASH_ALGO,
            os_hash_value=self._sha.hexdigest(),
            virtual_size=virtual_size(self._header, self.size, self.disk_format),
        )

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._hashers.shutdown()
        self.part.unlink(missing_ok=True)


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, image_id: str) -> Path:
        return self.root / image_id

    def begin(self, image_id: str, disk_format: str | None) -> Upload:
        return Upload(self.scratch(image_id), self.path(image_id), disk_format)

    def scratch(self, image_id: str) -> Path:
        """A temporary name in the store for data a tool writes itself (counted
        as arriving by `uploading`, swept like any other leftover)."""
        return self.root / f".{image_id}.{secrets.token_hex(6)}{PART_SUFFIX}"

    def seal(self, image_id: str, part: Path, disk_format: str | None) -> DataFacts:
        """Take a file written at a `scratch` name as the image's data: hashed
        in one streaming read, made durable, renamed into place. (qemu-img
        writes qcow2 with seeks back to its tables, so its output cannot be
        hashed on its way to disk; one read afterwards is the next best.)"""
        facts = file_facts(part, disk_format)
        fd = os.open(part, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(part, self.path(image_id))
        return facts

    def open(self, image_id: str) -> BinaryIO | None:
        """The data opened for reading (still readable if deleted meanwhile)."""
        try:
            return self.path(image_id).open("rb")
        except FileNotFoundError:
            return None

    def remove(self, image_id: str) -> None:
        self.path(image_id).unlink(missing_ok=True)

    def files(self) -> list[Path]:
        return [p for p in self.root.iterdir() if p.is_file()]

    def uploading(self, now: float | None = None) -> set[str]:
        """Images whose data is arriving right now (in any process)."""
        cutoff = (time.time() if now is None else now) - IDLE_UPLOAD_SECONDS
        return {
            path.name[1:].split(".")[0]
            for path in self.files()
            if path.name.endswith(PART_SUFFIX) and path.stat().st_mtime >= cutoff
        }

    def sweep(self, live_ids: Iterable[str], now: float | None = None) -> list[Path]:
        """Remove old temporary files and data no image owns any more.

        Only files older than a day go: another process may be writing one
        this very moment, or have just renamed one into place."""
        live = set(live_ids)
        cutoff = (time.time() if now is None else now) - STALE_SECONDS
        removed = []
        for path in self.files():
            orphan = path.name.endswith(PART_SUFFIX) or path.name not in live
            if orphan and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed.append(path)
        return removed


def file_facts(path: Path, disk_format: str | None) -> DataFacts:
    """Size and Glance's hashes of a file, a megabyte at a time: md5 and
    sha512 of one piece run on two threads while the next piece is read."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.new(HASH_ALGO)
    size, header = 0, b""
    with path.open("rb") as stream, ThreadPoolExecutor(2, "image-hash") as pool:
        hashing: list[Future[None]] = []
        while piece := stream.read(CHUNK):
            for done in hashing:
                done.result()
            if len(header) < HEADER_BYTES:
                header += piece[: HEADER_BYTES - len(header)]
            hashing = [pool.submit(md5.update, piece), pool.submit(sha.update, piece)]
            size += len(piece)
        for done in hashing:
            done.result()
    return DataFacts(
        size=size,
        checksum=md5.hexdigest(),
        os_hash_algo=HASH_ALGO,
        os_hash_value=sha.hexdigest(),
        virtual_size=virtual_size(header, size, disk_format),
    )


def chunks(stream: BinaryIO, size: int = CHUNK, limit: int | None = None) -> Iterator[bytes]:
    """Read a file piece by piece (at most `limit` bytes) and close it at the
    end, or when the reader goes away."""
    left = limit
    try:
        while left is None or left > 0:
            piece = stream.read(size if left is None else min(size, left))
            if not piece:
                return
            if left is not None:
                left -= len(piece)
            yield piece
    finally:
        stream.close()
