"""What every test with a real guest (qemu:///system, TCG) needs: to know
that one can run here, a place on disk qemu may read, and the tiny guest.

A missing piece skips the test locally and fails it in CI, as the service
fixtures do, so CI can never pass by skipping its real-guest proof.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.support.guest import Guest, GuestUnavailable, build_guest

# qemu runs as libvirt-qemu and must reach disks and volume files: not under
# pytest's private (0700) temporary folders.
GUEST_ROOT = Path("/var/lib/strata-test-guest")


def missing(reason: str) -> NoReturn:
    """Skip locally, fail in CI."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def libvirt_python() -> Any:
    try:
        import libvirt
    except ImportError:
        missing("libvirt-python is not installed (pip install -e '.[libvirt]')")
    return libvirt


def require_real_guests() -> None:
    """Root, qemu and a libvirtd answering on qemu:///system."""
    libvirt = libvirt_python()
    if os.geteuid() != 0:
        missing("a real guest needs root (qemu:///system, /var/lib)")
    for tool in ("qemu-system-x86_64", "qemu-img"):
        if shutil.which(tool) is None:
            missing(f"{tool} is not installed")
    try:
        libvirt.open("qemu:///system").close()
    except libvirt.libvirtError as error:
        missing(f"libvirtd does not answer on qemu:///system: {error}")


@contextmanager
def guest_folders(*names: str) -> Iterator[list[Path]]:
    """Fresh folders qemu can reach (one per name), removed afterwards."""
    root = GUEST_ROOT / uuid.uuid4().hex[:12]
    folders = [root / name for name in names]
    for folder in folders:
        folder.mkdir(parents=True)
    for folder in (GUEST_ROOT, root, *folders):
        folder.chmod(0o755)
    try:
        yield folders
    finally:
        _remove_guests_under(root)
        shutil.rmtree(root, ignore_errors=True)


def _remove_guests_under(root: Path) -> None:
    """Guests outlive the cloud that made them (an agent's restart must not
    stop them), so a test's guests still running are stopped here: those
    whose disks live under the test's folder."""
    libvirt = libvirt_python()
    conn = libvirt.open("qemu:///system")
    try:
        for domain in conn.listAllDomains():
            if str(root) in domain.XMLDesc(0):
                if domain.isActive():
                    domain.destroy()
                domain.undefine()
    finally:
        conn.close()


def tiny_guest() -> Guest:
    try:
        return build_guest()
    except GuestUnavailable as error:
        missing(f"cannot build the test guest: {error}")
