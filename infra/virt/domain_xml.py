"""A libvirt domain description from what the compute agent decided.

Pure rendering (no libvirt import), so the XML every guest gets can be read
in a unit test. The shape follows what Nova's libvirt driver writes for a
plain guest: virtio disks and NICs, a serial console logged to a file, and
direct kernel boot when the image names a kernel and ramdisk.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

# Every domain Strata defines carries this prefix, so a full reconcile can
# remove the ones no server owns without touching anyone else's guests.
DOMAIN_PREFIX = "strata-"
# The owning host is written into each domain, so that several Strata hosts
# sharing one libvirtd (a test machine, a namespaced dataplane) never take
# each other's domains for strays.
METADATA_NS = "https://strata.invalid/xmlns/compute/1"


def domain_name(server_id: str) -> str:
    return DOMAIN_PREFIX + server_id


def server_of(name: str) -> str | None:
    return name[len(DOMAIN_PREFIX) :] if name.startswith(DOMAIN_PREFIX) else None


def host_of(xml: str) -> str | None:
    """The Strata host a domain's XML says it belongs to (None: not said)."""
    found = ET.fromstring(xml).find(f"metadata/{{{METADATA_NS}}}instance/{{{METADATA_NS}}}host")
    return None if found is None else (found.text or "")


@dataclass(frozen=True)
class Nic:
    tap: str  # the name the network agent looks for and plugs into its bridge
    mac: str


@dataclass(frozen=True)
class VolumeFile:
    """A volume in the domain's definition (a boot volume): its id is the
    disk's serial, as for a hot-plugged one."""

    volume_id: str
    path: Path
    fmt: str
    dev: str


@dataclass(frozen=True)
class DomainSpec:
    server_id: str
    title: str
    domain_type: str  # "kvm", "qemu" (TCG) or "test"
    vcpus: int
    memory_mb: int
    disk: Path
    disk_format: str = "qcow2"
    seed: Path | None = None
    kernel: Path | None = None
    initrd: Path | None = None
    cmdline: str = ""
    nics: tuple[Nic, ...] = field(default_factory=tuple)
    console_log: Path | None = None
    host: str = ""
    disk_serial: str | None = None  # the root disk is a volume: its id
    volumes: tuple[VolumeFile, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return domain_name(self.server_id)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, tag, attrs)
    if text is not None:
        node.text = text
    return node


def _disk(
    devices: ET.Element, path: Path, fmt: str, dev: str, readonly: bool, serial: str | None = None
) -> None:
    disk = _sub(devices, "disk", type="file", device="disk")
    _sub(disk, "driver", name="qemu", type=fmt, cache="none" if not readonly else "default")
    _sub(disk, "source", file=str(path))
    _sub(disk, "target", dev=dev, bus="virtio")
    if serial is not None:
        _sub(disk, "serial", serial)
    if readonly:
        _sub(disk, "readonly")


def render_domain(spec: DomainSpec) -> str:
    domain = ET.Element("domain", type=spec.domain_type)
    _sub(domain, "name", spec.name)
    _sub(domain, "uuid", spec.server_id)  # Nova does the same: virsh shows the server id
    _sub(domain, "title", spec.title)
    metadata = _sub(domain, "metadata")
    owner = ET.SubElement(metadata, f"{{{METADATA_NS}}}instance")
    ET.SubElement(owner, f"{{{METADATA_NS}}}host").text = spec.host
    _sub(domain, "memory", str(spec.memory_mb), unit="MiB")
    _sub(domain, "vcpu", str(spec.vcpus))
    os_node = _sub(domain, "os")
    _sub(os_node, "type", "hvm", arch="x86_64")
    if spec.kernel is not None:
        _sub(os_node, "kernel", str(spec.kernel))
        if spec.initrd is not None:
            _sub(os_node, "initrd", str(spec.initrd))
        if spec.cmdline:
            _sub(os_node, "cmdline", spec.cmdline)
    else:
        _sub(os_node, "boot", dev="hd")
    features = _sub(domain, "features")
    _sub(features, "acpi")  # a soft reboot or stop is an ACPI event to the guest
    if spec.domain_type == "kvm":
        _sub(domain, "cpu", mode="host-passthrough")
    _sub(domain, "on_poweroff", "destroy")
    _sub(domain, "on_reboot", "restart")
    _sub(domain, "on_crash", "destroy")
    devices = _sub(domain, "devices")
    _disk(devices, spec.disk, spec.disk_format, "vda", readonly=False, serial=spec.disk_serial)
    if spec.seed is not None:
        _disk(devices, spec.seed, "raw", "vdb", readonly=True)
    for volume in spec.volumes:
        _disk(devices, volume.path, volume.fmt, volume.dev, readonly=False, serial=volume.volume_id)
    for nic in spec.nics:
        # type='ethernet': libvirt only creates the tap; the network agent
        # owns the bridge, so plugging stays in one place.
        iface = _sub(devices, "interface", type="ethernet")
        _sub(iface, "mac", address=nic.mac)
        _sub(iface, "target", dev=nic.tap, managed="yes")
        _sub(iface, "model", type="virtio")
    if spec.console_log is not None:
        serial = _sub(devices, "serial", type="file")
        _sub(serial, "source", path=str(spec.console_log), append="on")
        _sub(serial, "target", port="0")
    ET.register_namespace("strata", METADATA_NS)
    ET.indent(domain)
    return ET.tostring(domain, encoding="unicode")


# -- volumes hot-plugged into a running guest --------------------------------------
@dataclass(frozen=True)
class VolumeDisk:
    volume_id: str
    dev: str  # "vdc"


def render_volume_disk(
    volume_id: str, path: str, fmt: str, dev: str, readonly: bool = False
) -> str:
    """The `<disk>` Nova's libvirt driver hot-plugs for a file volume. The
    volume id is its serial: that is how a later pass (or another agent
    after a crash) recognises which disks are volumes and whose they are."""
    disk = ET.Element("disk", type="file", device="disk")
    _sub(disk, "driver", name="qemu", type=fmt)
    _sub(disk, "source", file=path)
    _sub(disk, "target", dev=dev, bus="virtio")
    _sub(disk, "serial", volume_id)
    if readonly:
        _sub(disk, "readonly")
    return ET.tostring(disk, encoding="unicode")


def disk_targets(xml: str) -> set[str]:
    """Every disk's target dev ("vda", …): the names a new disk must avoid."""
    return {
        str(t.get("dev")) for t in ET.fromstring(xml).findall("devices/disk/target") if t.get("dev")
    }


def volume_disks(xml: str) -> list[VolumeDisk]:
    """The disks that carry a serial (volumes; the root and seed have none)."""
    found = []
    for disk in ET.fromstring(xml).findall("devices/disk"):
        serial, target = disk.find("serial"), disk.find("target")
        if serial is not None and serial.text and target is not None:
            found.append(VolumeDisk(serial.text, str(target.get("dev"))))
    return found


def without_disk(xml: str, dev: str) -> str:
    """The domain description minus the disk on `dev` (the test driver's
    detach, which libvirt's test driver does not implement itself)."""
    domain = ET.fromstring(xml)
    devices = domain.find("devices")
    if devices is not None:
        for disk in devices.findall("disk"):
            target = disk.find("target")
            if target is not None and target.get("dev") == dev:
                devices.remove(disk)
    return ET.tostring(domain, encoding="unicode")


def with_disk(xml: str, disk_xml: str) -> str:
    """The domain description plus one `<disk>` (the test driver's attach)."""
    domain = ET.fromstring(xml)
    devices = domain.find("devices")
    if devices is None:
        devices = _sub(domain, "devices")
    devices.append(ET.fromstring(disk_xml))
    return ET.tostring(domain, encoding="unicode")


def disk_of(xml: str, dev: str) -> str | None:
    """The `<disk>` on target `dev` as the domain describes it (what a detach
    is given, so libvirt parses exactly what it holds)."""
    for disk in ET.fromstring(xml).findall("devices/disk"):
        target = disk.find("target")
        if target is not None and target.get("dev") == dev:
            return ET.tostring(disk, encoding="unicode")
    return None
