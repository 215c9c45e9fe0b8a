"""One self-contained qcow2 from a server's disk and its backing chain.

A snapshot must boot on any host, so its image may not name a backing file:
`qemu-img convert` reads through the whole chain and writes every cluster
the guest can see into one new file, streaming (qemu-img holds a few
clusters in memory, never the disk).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from infra.virt.qemu_img import DiskError


def flatten(qemu_img: str, source: Path, dest: Path, timeout: float) -> None:
    """Write `source` with its backing chain into `dest` as qcow2.

    `-U` (force-share) reads a disk a running qemu holds locked for writing:
    what comes out is what a power cut would have left on that disk, so a
    snapshot of a running guest is crash-consistent at best. The timeout
    kills qemu-img rather than leaving it to finish after its job gave up."""
    args = [qemu_img, "convert", "-U", "-O", "qcow2", str(source), str(dest)]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as error:
        raise DiskError(f"qemu-img convert timed out after {timeout:.0f}s") from error
    if done.returncode != 0:
        raise DiskError(f"qemu-img convert failed: {done.stderr.strip()[-500:]}")
