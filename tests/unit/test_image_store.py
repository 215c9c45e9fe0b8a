"""The image store: hashes computed while streaming, atomic rename, sweep."""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

from infra.image_store import ImageStore, chunks, virtual_size


def test_commit_renames_and_reports_hashes(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    upload = store.begin("img-1", "raw")
    data = os.urandom(3 << 20)
    for i in range(0, len(data), 65536):
        upload.write(data[i : i + 65536])
    assert not store.path("img-1").exists()  # nothing under the final name yet
    facts = upload.commit()
    assert store.path("img-1").read_bytes() == data
    assert facts.size == len(data) == facts.virtual_size
    assert facts.checksum == hashlib.md5(data).hexdigest()
    assert facts.os_hash_algo == "sha512"
    assert facts.os_hash_value == hashlib.sha512(data).hexdigest()
    assert [p.name for p in store.files()] == ["img-1"]
    stream = store.open("img-1")
    assert stream is not None
    assert b"".join(chunks(stream, 1000)) == data


def test_discard_leaves_nothing(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    upload = store.begin("img-2", "qcow2")
    upload.write(b"partial")
    upload.discard()
    assert store.files() == []
    assert store.open("img-2") is None


def test_qcow2_virtual_size_comes_from_its_header() -> None:
    header = b"QFI\xfb" + b"\0" * 20 + struct.pack(">Q", 1 << 30) + b"\0" * 100
    assert virtual_size(header, 200, "qcow2") == 1 << 30
    assert virtual_size(b"plain", 5, "raw") == 5
    assert virtual_size(b"plain", 5, "vmdk") is None


def test_sweep_removes_only_old_orphans(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    for name in ("live", "orphan", ".x.abc.part", "fresh-orphan"):
        (tmp_path / name).write_bytes(b"x")
    old = 1_000_000.0
    for name in ("live", "orphan", ".x.abc.part"):
        os.utime(tmp_path / name, (old, old))
    removed = store.sweep({"live"}, now=old + 2 * 24 * 3600)
    assert sorted(p.name for p in removed) == [".x.abc.part", "orphan"]
    assert sorted(p.name for p in store.files()) == ["fresh-orphan", "live"]
