"""The tiny guest's volume watcher (tests/support/guest.py), run by the
host's busybox against folders standing in for the guest's /sys/block and
/dev: a blank disk gets a marker written through to its file, a marked disk
has its token read back and is left as it was, and a disk that goes away is
reported (and noticed anew when it comes back)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.guest import DATA_MARKER, DISK_ADDED, DISK_REMOVED, DISK_WATCH, disk_data

SECTOR = 512


@pytest.fixture
def watcher(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    busybox = shutil.which("busybox")
    if busybox is None:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("busybox is not installed", pytrace=False)
        pytest.skip("busybox is not installed")
    sysfs, dev, tmp = tmp_path / "sys", tmp_path / "dev", tmp_path / "tmp"
    for folder in (sysfs / "vda", sysfs / "vdb", dev, tmp):
        folder.mkdir(parents=True)
    out = tmp_path / "console.log"
    env = {"STRATA_SYS_BLOCK": str(sysfs), "STRATA_DEV": str(dev), "STRATA_TMP": str(tmp)}
    with out.open("wb") as console:
        process = subprocess.Popen(
            [busybox, "sh", "-c", DISK_WATCH], env=env, stdout=console, stderr=console
        )
    try:
        yield tmp_path, out
    finally:
        process.terminate()
        process.wait(timeout=10)


def _plug(root: Path, name: str, content: bytes, serial: str) -> None:
    (root / "dev" / name).write_bytes(content.ljust(8 * SECTOR, b"\0"))
    block = root / "sys" / name
    block.mkdir()
    (block / "size").write_text("8\n")
    (block / "serial").write_text(serial)


def _console(out: Path, wanted: str) -> str:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        text = out.read_text()
        if wanted in text:
            return text
        time.sleep(0.1)
    raise AssertionError(f"{wanted!r} never printed:\n{out.read_text()}")


def test_a_blank_disk_is_marked_and_a_marked_one_read(watcher: tuple[Path, Path]) -> None:
    root, out = watcher
    _plug(root, "vdc", b"", "blank-volume")
    text = _console(out, "vdc wrote")
    assert f"{DISK_ADDED}: vdc serial=blank-volume sectors=8" in text
    (token,) = disk_data(text, "vdc", "wrote")
    assert len(token) == 32
    assert (root / "dev" / "vdc").read_bytes()[:SECTOR] == (
        f"{DATA_MARKER} {token}\n".encode().ljust(SECTOR, b"\0")
    )

    marked = f"{DATA_MARKER} 0123abcd\n".encode() + b"\xff" * 100
    _plug(root, "vdd", marked, "marked-volume")
    text = _console(out, "vdd found")
    assert disk_data(text, "vdd", "found") == ["0123abcd"]
    assert disk_data(text, "vdd", "wrote") == []
    assert (root / "dev" / "vdd").read_bytes() == marked.ljust(8 * SECTOR, b"\0")


def test_a_disk_that_goes_and_comes_back_is_read_again(watcher: tuple[Path, Path]) -> None:
    root, out = watcher
    _plug(root, "vdc", b"", "v1")
    (token,) = disk_data(_console(out, "vdc wrote"), "vdc", "wrote")
    shutil.rmtree(root / "sys" / "vdc")
    _console(out, f"{DISK_REMOVED}: vdc")
    (root / "sys" / "vdc").mkdir()
    (root / "sys" / "vdc" / "size").write_text("8\n")
    text = _console(out, "vdc found")
    assert disk_data(text, "vdc", "found") == [token]
    assert text.count(f"{DISK_ADDED}: vdc") == 2
    # The guest's own disks are never taken for volumes.
    assert "vda" not in text and "vdb" not in text
