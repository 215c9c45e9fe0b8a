"""Volume files in one folder, through `qemu-img`: create, convert, resize,
freeze (snapshot) and inspect backing chains.

Every file is written under a temporary name and renamed into place, so a
crash never leaves a half-made file under a real name. Snapshots and clones
never copy data: `freeze` turns the volume's current file into a read-only
base and gives the volume a new empty overlay on top of it — three metadata
operations whatever the size.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

GIB = 1024**3
PART = ".part"
NEXT = ".next"


class VolumeFileError(Exception):
    """qemu-img (or the filesystem) refused; the message says why."""


def qemu_img_path() -> str | None:
    return shutil.which("qemu-img")


def _qemu_img(*args: str) -> str:
    try:
        done = subprocess.run(
            ["qemu-img", *args], capture_output=True, text=True, check=False, timeout=600
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise VolumeFileError(f"qemu-img {args[0]} failed: {error}") from error
    if done.returncode != 0:
        raise VolumeFileError(f"qemu-img {args[0]} failed: {done.stderr.strip()[-300:]}")
    return done.stdout


class VolumeFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.root / name

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_file())

    def info(self, name: str) -> dict[str, Any]:
        # -U: a running guest may hold the file's lock; reading its header is safe.
        out = _qemu_img("info", "-U", "--output=json", str(self.path(name)))
        return dict(json.loads(out))

    def chain(self, name: str) -> list[str]:
        """The file and every backing file under it (names in this folder)."""
        out = _qemu_img("info", "-U", "--backing-chain", "--output=json", str(self.path(name)))
        return [Path(item["filename"]).name for item in json.loads(out)]

    def size_gb(self, name: str) -> int:
        return int(self.info(name)["virtual-size"]) // GIB

    def _commit(self, part: Path, name: str) -> None:
        os.replace(part, self.path(name))

    def create_empty(self, name: str, size_gb: int) -> None:
        part = self.path(name + PART)
        _qemu_img("create", "-q", "-f", "qcow2", str(part), f"{size_gb}G")
        self._commit(part, name)

    def create_overlay(self, name: str, backing: str, size_gb: int) -> None:
        """A new empty file reading through to `backing` (a relative name, so
        the folder can move), grown to `size_gb` if that is larger."""
        part = self.path(name + PART)
        base_size = int(self.info(backing)["virtual-size"])
        size = max(base_size, size_gb * GIB)
        _qemu_img("create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", backing, str(part), str(size))
        self._commit(part, name)

    def convert(self, source: Path, source_format: str, name: str, size_gb: int) -> None:
        """Copy an image into a new volume file (the one real copy: from the image store)."""
        part = self.path(name + PART)
        fmt = source_format if source_format in ("raw", "qcow2", "vmdk", "vdi", "vhd") else "raw"
        fmt = "vpc" if fmt == "vhd" else fmt
        try:
            _qemu_img("convert", "-q", "-f", fmt, "-O", "qcow2", str(source), str(part))
            if (
                int(json.loads(_qemu_img("info", "--output=json", str(part)))["virtual-size"])
                < size_gb * GIB
            ):
                _qemu_img("resize", "-q", "-f", "qcow2", str(part), f"{size_gb}G")
        except VolumeFileError:
            part.unlink(missing_ok=True)
            raise
        self._commit(part, name)

    def export(self, name: str, disk_format: str, target: Path) -> None:
        """The volume's data (through its whole chain) as one image file."""
        fmt = {"vhd": "vpc"}.get(disk_format, disk_format)
        _qemu_img("convert", "-q", "-U", "-O", fmt, str(self.path(name)), str(target))

    def resize(self, name: str, size_gb: int) -> None:
        if int(self.info(name)["virtual-size"]) < size_gb * GIB:
            _qemu_img("resize", "-q", "-f", "qcow2", str(self.path(name)), f"{size_gb}G")

    def freeze(self, name: str, base: str) -> None:
        """Make `base` a point-in-time copy of `name`; `name` becomes an overlay on it.

        Idempotent and crash-safe: the new overlay is made first (as
        `<name>.next`), then two renames; `recover` finishes a pass that
        stopped between them.
        """
        self.recover(name)
        if self.exists(base) and base in self.chain(name)[1:2]:
            return  # done before
        if self.exists(base):
            raise VolumeFileError(f"{base} exists but is not the base of {name}")
        size = int(self.info(name)["virtual-size"])
        following = self.path(name + NEXT)
        following.unlink(missing_ok=True)
        _qemu_img(
            "create",
            "-q",
            "-f",
            "qcow2",
            "-F",
            "qcow2",
            "-b",
            base,
            "-u",
            str(following),
            str(size),
        )
        os.replace(self.path(name), self.path(base))
        os.replace(following, self.path(name))

    def recover(self, name: str) -> None:
        following = self.path(name + NEXT)
        if following.exists():
            if self.exists(name):
                following.unlink()  # the first rename never happened
            else:
                os.replace(following, self.path(name))

    def remove(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)

    def free_gb(self) -> int:
        return shutil.disk_usage(self.root).free // GIB
