"""A `strata up` on real libvirt with TCG guests, for the benchmarks that
boot the tiny test guest (tests/support/guest.py): its images uploaded
through the image API, a flavor and a network ready, and a libvirt
connection of its own to watch the domains from outside the cloud (and to
remove, at the end, any guest a failed run left behind)."""

from __future__ import annotations

import os
import shutil
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.virt.domain_xml import host_of
from infra.virt.hypervisor import libvirt_module
from tests.bench.api_client import Api
from tests.e2e.cloud import RunningCloud, start_cloud
from tests.support.guest import CMDLINE, Guest, GuestUnavailable, build_guest

URI = "qemu:///system"
# qemu runs as libvirt-qemu and must reach the disks: not under a private
# temporary folder.
ROOT = Path("/var/lib/strata-bench-guest")
# Watching must not starve the guest and the agent of the machine's CPUs.
POLL = 0.02
RUNNING = 1  # virDomainState VIR_DOMAIN_RUNNING


def unavailable() -> str | None:
    """Why real TCG guests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "real guests need root (qemu:///system, /var/lib)"
    try:
        libvirt = libvirt_module()
    except ImportError:
        return "libvirt-python is not installed (pip install -e '.[libvirt]')"
    for tool in ("qemu-system-x86_64", "qemu-img"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    try:
        libvirt.open(URI).close()
    except libvirt.libvirtError as error:
        return f"libvirtd does not answer on {URI}: {error}"
    try:
        build_guest()
    except GuestUnavailable as error:
        return f"cannot build the test guest: {error}"
    return None


def until(probe: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `probe` until true; the wall-clock time it first was."""
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(POLL)
    return time.time()


def marks(
    started: float, probes: dict[str, Callable[[], bool]], timeout: float
) -> dict[str, float]:
    """Seconds from `started` (time.time()) to the first poll at which each
    probe held. Every pending probe is asked on each round, so events that
    overtake each other are all timed; one never seen is left out."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < len(probes) and time.monotonic() < deadline:
        for name, probe in probes.items():
            if name not in seen and probe():
                seen[name] = time.time() - started
        time.sleep(POLL)
    return seen


@dataclass
class TcgCloud:
    cloud: RunningCloud
    api: Api
    image: str
    flavor: str
    network: str
    instances: Path
    conn: Any  # libvirt.virConnect

    def server_body(self, name: str) -> dict[str, Any]:
        return {
            "server": {
                "name": name,
                "imageRef": self.image,
                "flavorRef": self.flavor,
                "networks": [{"uuid": self.network}],
            }
        }

    def status(self, server_id: str) -> str:
        return str(self.api.call("compute", f"/v2.1/servers/{server_id}")["server"]["status"])

    def domain(self, server_id: str) -> Any | None:
        try:
            return self.conn.lookupByName(f"strata-{server_id}")
        except libvirt_module().libvirtError:
            return None

    def started(self, server_id: str) -> bool:
        """qemu launched (libvirt counts the domain active from there on)."""
        domain = self.domain(server_id)
        return domain is not None and bool(domain.isActive())

    def running(self, server_id: str) -> bool:
        """The guest's CPUs run: libvirt's RUNNING state, past `starting up`."""
        domain = self.domain(server_id)
        return domain is not None and int(domain.state()[0]) == RUNNING

    def live_serials(self, server_id: str) -> set[str]:
        """The serials (volume ids) of the disks the running domain has."""
        domain = self.domain(server_id)
        if domain is None:
            return set()
        disks = ET.fromstring(domain.XMLDesc(0)).findall("devices/disk/serial")
        return {str(s.text) for s in disks if s.text}

    def console(self, server_id: str) -> str:
        """The guest's serial log, read on the host (no agent pass between)."""
        try:
            return (self.instances / server_id / "console.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def boot(self, name: str, timeout: float = 300) -> str:
        """A server booted and its guest ready (its init printed the marker)."""
        server_id = str(self.api.call("compute", "/v2.1/servers", "POST", self.server_body(name))
                        ["server"]["id"])  # fmt: skip
        until(lambda: self.status(server_id) in ("ACTIVE", "ERROR"), timeout, f"{name} ACTIVE")
        if self.status(server_id) != "ACTIVE":
            raise RuntimeError(f"server {name} went to ERROR")
        until(lambda: "STRATA-GUEST-READY" in self.console(server_id), timeout, f"{name} ready")
        return server_id

    def delete(self, server_id: str, timeout: float = 120) -> None:
        self.api.call("compute", f"/v2.1/servers/{server_id}", "DELETE")
        until(lambda: self.domain(server_id) is None, timeout, "the domain removed")


def _images(api: Api, guest: Guest) -> str:
    ids = {}
    for name, path, fmt in (("kernel", guest.kernel, "aki"), ("ramdisk", guest.initrd, "ari")):
        body = {"name": f"bench-{name}", "disk_format": fmt, "container_format": fmt}
        ids[name] = api.call("image", "/v2/images", "POST", body)["id"]
        api.upload(ids[name], 1, path.read_bytes())
    body = {
        "name": "bench-guest",
        "disk_format": "raw",
        "container_format": "bare",
        "kernel_id": ids["kernel"],
        "ramdisk_id": ids["ramdisk"],
        "os_command_line": CMDLINE,
    }
    image = str(api.call("image", "/v2/images", "POST", body)["id"])
    api.upload(image, 1, guest.disk.read_bytes())
    return image


@contextmanager
def tcg_cloud(workdir: Path, host: str) -> Iterator[TcgCloud]:
    """Call only when `unavailable()` said None."""
    libvirt = libvirt_module()
    guest = build_guest()
    root = ROOT / uuid.uuid4().hex[:12]
    instances, volumes = root / "instances", root / "volumes"
    for folder in (instances, volumes):
        folder.mkdir(parents=True)
    for folder in (ROOT, root, instances, volumes):
        folder.chmod(0o755)
    conn = libvirt.open(URI)
    try:
        cloud = start_cloud(
            workdir,
            extra_env={
                "STRATA_HOST": host,
                "STRATA_COMPUTE_DRIVER": "libvirt",
                "STRATA_COMPUTE_INTERVAL": "0.5",
                "STRATA_COMPUTE_INSTANCES_DIR": str(instances),
                "STRATA_VOLUMES_DIR": str(volumes),
            },
        )
        try:
            api = Api(cloud)
            image = _images(api, guest)
            flavor = {"flavor": {"name": "bench.tcg", "vcpus": 1, "ram": 256, "disk": 1}}
            flavor_id = str(api.call("compute", "/v2.1/flavors", "POST", flavor)["flavor"]["id"])
            net = api.call("network", "/v2.0/networks", "POST", {"network": {"name": "tcg"}})
            subnet = {"network_id": net["network"]["id"], "cidr": "10.129.0.0/24", "ip_version": 4}
            api.call("network", "/v2.0/subnets", "POST", {"subnet": subnet})
            yield TcgCloud(cloud, api, image, flavor_id, net["network"]["id"], instances, conn)
        finally:
            cloud.stop()
    finally:
        _remove_domains(conn, host)
        conn.close()
        shutil.rmtree(root, ignore_errors=True)


def _remove_domains(conn: Any, host: str) -> None:
    """Guests a failed run left behind (libvirtd keeps them past the cloud)."""
    for domain in conn.listAllDomains():
        if domain.name().startswith("strata-") and host_of(domain.XMLDesc(0)) == host:
            if domain.isActive():
                domain.destroy()
            domain.undefine()
