"""Server snapshot to an image, on the host's side: a qcow2 overlay over a
raw base flattened by qemu-img into the image store, then hashed in one
streaming read. Reports MiB/s of image written and the memory the hashing
process grew by (flat: a megabyte at a time, whatever the disk's size).

Run alone: `.venv/bin/python -m tests.bench.bench_snapshot [MiB]`.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from infra.image_store import ImageStore
from infra.virt import qemu_img
from workers.compute.disks import Disks
from workers.compute.snapshot import Snapshots

MIB = 1 << 20


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _server_disk(disks: Disks, server_id: str, base: Path, written_mib: int) -> None:
    """An overlay like the agent makes, with half its data written by the guest."""
    folder = disks.instance_dir(server_id)
    assert disks.qemu_img is not None
    qemu_img.create_overlay(disks.qemu_img, base, "raw", folder / "disk", 0)
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", f"write -P 0x5a 0 {written_mib}M", str(folder / "disk")],
        capture_output=True,
        check=True,
    )


def run(workdir: Path, mib: int = 512, rounds: int = 3) -> dict[str, Any]:
    tool = qemu_img.find_qemu_img()
    if tool is None:
        return {"skipped": "qemu-img is not installed"}
    images = workdir / "images"
    disks = Disks(workdir / "instances", images, tool, None)
    store = ImageStore(images)
    snapshots = Snapshots(disks, store, timeout=600)
    base = workdir / "base.raw"
    with base.open("wb") as out:
        for _ in range(mib):
            out.write(os.urandom(MIB))
    _server_disk(disks, "server", base, mib // 2)
    before = _rss_mib()
    times = []
    for n in range(rounds):
        started = time.perf_counter()
        facts = snapshots.take("server", f"image-{n}")
        times.append(time.perf_counter() - started)
        store.remove(f"image-{n}")
    best = min(times)
    return {
        "disk_mib": mib,
        "image_mib": round(facts.size / MIB, 1),
        "seconds": [round(t, 2) for t in times],
        "mib_per_s": round(facts.size / MIB / best, 1),
        "rss_growth_mib": round(_rss_mib() - before, 1),
    }


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 512
    with tempfile.TemporaryDirectory(prefix="strata-bench-snapshot-") as tmp:
        print(json.dumps(run(Path(tmp), size), indent=2))
