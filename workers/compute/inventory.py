"""What this host offers to placement: measured from the machine, or set.

The test driver's own figures are invented (libvirt's test:///default
always claims 8 CPUs and a few GB), so the machine's are used for every
driver; settings override each one (a host shared with other work, or a
test that wants little capacity).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

MIB = 1024**2
GIB = 1024**3


@dataclass(frozen=True)
class Inventory:
    vcpus: int
    memory_mb: int
    disk_gb: int


def measure(instances_dir: Path) -> Inventory:
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return Inventory(
        vcpus=os.cpu_count() or 1,
        memory_mb=int(pages // MIB),
        disk_gb=int(shutil.disk_usage(instances_dir).total // GIB),
    )


def with_overrides(found: Inventory, vcpus: int, memory_mb: int, disk_gb: int) -> Inventory:
    """Each override that is set (non-zero) replaces the measured figure."""
    return Inventory(
        vcpus=vcpus or found.vcpus,
        memory_mb=memory_mb or found.memory_mb,
        disk_gb=disk_gb or found.disk_gb,
    )
