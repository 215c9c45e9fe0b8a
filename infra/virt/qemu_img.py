"""qemu-img, the one tool that reads and writes every disk format.

The format is always taken from what qemu-img detects in the file, never
from what the image's owner declared: a "raw" upload that is really a qcow2
with a backing file could otherwise make a guest read any file on the host
(the reason Nova probes formats too). Images with a backing file of their
own are refused.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

TIMEOUT = 600.0  # a conversion of a large image on a slow disk, not a hang
GIB = 1024**3


class DiskError(RuntimeError):
    """A disk step failed; the message says which and why."""


@dataclass(frozen=True)
class DiskInfo:
    format: str
    virtual_size: int
    backing_file: str | None


def find_qemu_img() -> str | None:
    return shutil.which("qemu-img")


def _run(args: list[str], timeout: float = TIMEOUT) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as error:
        raise DiskError(f"{args[0]} {args[1]} timed out after {timeout:.0f}s") from error
    if done.returncode != 0:
        raise DiskError(f"{' '.join(args[:2])} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def info(qemu_img: str, path: Path) -> DiskInfo:
    # -U: the base may be open read-only by running guests (qemu's image locking).
    out = json.loads(_run([qemu_img, "info", "-U", "--output=json", str(path)], timeout=60))
    return DiskInfo(
        format=str(out["format"]),
        virtual_size=int(out.get("virtual-size", 0)),
        backing_file=out.get("backing-filename"),
    )


def check_base(qemu_img: str, path: Path) -> DiskInfo:
    found = info(qemu_img, path)
    if found.backing_file:
        raise DiskError(f"image {path.name} has a backing file of its own; refused")
    if found.format not in ("raw", "qcow2"):
        raise DiskError(f"image {path.name} is {found.format}; only raw and qcow2 boot")
    return found


def create_overlay(qemu_img: str, base: Path, base_format: str, dest: Path, size_gb: int) -> None:
    """A copy-on-write disk over the cached base; grown to the flavor's size
    when that is larger than the image (never shrunk: that would cut data)."""
    args = [qemu_img, "create", "-q", "-f", "qcow2", "-b", str(base), "-F", base_format, str(dest)]
    if size_gb > 0 and size_gb * GIB > info(qemu_img, base).virtual_size:
        args.append(f"{size_gb}G")
    _run(args, timeout=120)
