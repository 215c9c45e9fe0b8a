"""libvirt, behind the few calls the compute agent makes.

libvirt-python is an optional extra (it compiles against libvirt's C
headers), so it is imported only when a connection is opened. One
connection serves every thread: libvirt connections are thread-safe and the
binding releases the GIL while it waits. A dropped connection (libvirtd
restarted) is reopened on the next call.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from infra.virt.domain_xml import (
    DOMAIN_PREFIX,
    VolumeDisk,
    disk_of,
    host_of,
    volume_disks,
    with_disk,
    without_disk,
)

TEST_URI = "test:///default"
# libvirt's domain states (virDomainState) mapped to Nova's power states.
_POWER = {0: 0, 1: 1, 2: 1, 3: 3, 4: 4, 5: 4, 6: 6, 7: 3}
RUNNING = 1
SHUTDOWN = 4


class HypervisorError(RuntimeError):
    pass


def _quiet(_context: object, _error: object) -> None:
    """libvirt prints every error to stderr by default, even those the
    caller expects and handles (a lookup of a domain that is gone)."""


def libvirt_module() -> Any:
    import libvirt

    libvirt.registerErrorHandler(_quiet, None)
    return libvirt


def libvirt_available() -> bool:
    try:
        libvirt_module()
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class HostFacts:
    hypervisor_type: str
    hypervisor_version: int
    cpus: int
    memory_mb: int


class Hypervisor:
    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._lock = threading.Lock()
        self._conn: Any = None

    @property
    def is_test(self) -> bool:
        return self.uri.startswith("test:")

    def conn(self) -> Any:
        with self._lock:
            if self._conn is not None and self._conn.isAlive():
                return self._conn
            libvirt = libvirt_module()
            try:
                self._conn = libvirt.open(self.uri)
            except libvirt.libvirtError as error:
                raise HypervisorError(f"cannot connect to {self.uri}: {error}") from error
            return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def facts(self) -> HostFacts:
        conn = self.conn()
        info = conn.getInfo()  # [arch, memory MiB, cpus, mhz, nodes, sockets, cores, threads]
        return HostFacts(conn.getType(), int(conn.getVersion()), int(info[2]), int(info[1]))

    def domains(self, host: str | None = None) -> dict[str, Any]:
        """Strata's domains by name (defined or running), those of `host` only
        when given; anything else on this libvirtd is not ours to touch."""
        found = {}
        for domain in self.conn().listAllDomains():
            name = domain.name()
            if name.startswith(DOMAIN_PREFIX) and (
                host is None or host_of(domain.XMLDesc(0)) in (host, None)
            ):
                found[name] = domain
        return found

    def lookup(self, name: str) -> Any | None:
        libvirt = libvirt_module()
        try:
            return self.conn().lookupByName(name)
        except libvirt.libvirtError as error:
            if error.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise

    def define(self, xml: str) -> Any:
        return self.conn().defineXML(xml)

    @staticmethod
    def power_state(domain: Any) -> int:
        return _POWER.get(int(domain.state()[0]), 0)

    @staticmethod
    def start(domain: Any) -> None:
        if not domain.isActive():
            domain.create()

    @classmethod
    def reboot(cls, domain: Any, hard: bool, grace: float) -> None:
        """HARD: power cycle. SOFT, as Nova does it: ask the guest to shut
        down, pull the plug if it has not after `grace` seconds, start again
        (a guest ignoring ACPI still ends up rebooted, never reported so
        while it ran on)."""
        if hard:
            if domain.isActive():
                domain.destroy()
        else:
            cls.stop(domain, grace)
        domain.create()

    @staticmethod
    def stop(domain: Any, grace: float) -> None:
        """Ask the guest to shut down, then pull the plug after `grace` seconds."""
        if not domain.isActive():
            return
        domain.shutdown()
        deadline = time.monotonic() + grace
        while domain.isActive() and time.monotonic() < deadline:
            time.sleep(0.5)
        if domain.isActive():
            domain.destroy()

    @staticmethod
    def remove(domain: Any) -> None:
        libvirt = libvirt_module()
        try:
            if domain.isActive():
                domain.destroy()
            domain.undefine()
        except libvirt.libvirtError as error:
            # Gone meanwhile (another pass, an operator): that is the goal.
            if error.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise

    # -- hot-plugged volumes ------------------------------------------------------
    def description(self, domain: Any) -> str:
        """The disks a guest has: the live view of a running real guest, else
        the persistent one. libvirt's test driver cannot hot-plug, so its
        domains are changed by redefining them, which only the persistent
        description shows until the next start."""
        if domain.isActive() and not self.is_test:
            return str(domain.XMLDesc(0))
        return str(domain.XMLDesc(libvirt_module().VIR_DOMAIN_XML_INACTIVE))

    def volume_disks(self, domain: Any) -> list[VolumeDisk]:
        return volume_disks(self.description(domain))

    def attach_disk(self, domain: Any, disk_xml: str) -> None:
        """Plugged into the running guest (LIVE) and kept across restarts
        (CONFIG); a stopped guest gets it in its definition only."""
        libvirt = libvirt_module()
        if self.is_test:
            inactive = domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
            self.conn().defineXML(with_disk(inactive, disk_xml))
            return
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if domain.isActive():
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        domain.attachDeviceFlags(disk_xml, flags)

    def detach_disk(self, domain: Any, dev: str) -> None:
        libvirt = libvirt_module()
        inactive = domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        if self.is_test:
            self.conn().defineXML(without_disk(inactive, dev))
            return
        # The disk as libvirt describes it (each view separately: the live
        # one may still hold a disk the guest has not released yet).
        live = self.description(domain)
        if domain.isActive():
            found = disk_of(live, dev)
            if found is not None:
                domain.detachDeviceFlags(found, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        found = disk_of(inactive, dev)
        if found is not None:
            domain.detachDeviceFlags(found, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
