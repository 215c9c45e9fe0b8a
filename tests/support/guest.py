"""A tiny bootable guest for the real-guest tests, built once and cached.

A Debian cloud kernel (`apt-get download`, unpacked with `dpkg-deb -x`) and
an initramfs holding a static busybox and the few virtio modules it needs,
whose /init prints a marker, the guest's block devices, the first bytes of
its disk and the instance id from its NoCloud seed to the serial console,
asks for a DHCP lease on its first NIC (printing it), then watches for
volumes. Booting it through the API proves the whole path: image upload,
image cache, overlay, seed, direct kernel boot, serial console log.

Every disk besides the root (vda) and the seed (vdb), there at boot or
hot-plugged later, is a volume: the guest prints it and the data marker in
its first sector ("STRATA-DATA <token>"), or writes a fresh marker there if
it has none and prints that token — so a token read back by another guest
proves the data went through the volume, not through this guest's memory.

Built under /var/cache/strata-test-guest (outside the repository, so reruns
take no download); STRATA_TEST_GUEST_CACHE moves it.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

MARKER = "STRATA-GUEST-BOOTED"
DISK_MARKER = b"STRATA-DISK-MARKER"
CMDLINE = "console=ttyS0 quiet panic=-1"
BUILD_VERSION = "5"  # bump when the init script or the module list changes
MODULES = ("virtio_pci", "virtio_blk", "virtio_net", "isofs")

INIT = f"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules/order); do insmod /modules/$m.ko; done
sleep 1
echo "{MARKER} kernel $(uname -r)"
echo "STRATA-BLOCK-DEVICES: $(ls /sys/block | tr '\\n' ' ')"
echo "STRATA-DISK: $(head -c {len(DISK_MARKER)} /dev/vda)"
mkdir -p /seed
mount -t iso9660 -o ro /dev/vdb /seed && echo "STRATA-SEED: $(grep instance-id /seed/meta-data)"
echo "STRATA-NICS: $(ls /sys/class/net | tr '\\n' ' ')"
echo STRATA-GUEST-READY
# The first NIC asks for a lease after the marker, so a guest on a network
# nobody serves still says it is ready at once.
ip link set eth0 up
(udhcpc -i eth0 -s /udhcpc.sh -t 30 -T 1 -n -q -O staticroutes \
  && echo "STRATA-LEASE: $(cat /tmp/lease)" && /bin/sh /metadata.sh) &
exec /bin/sh /diskwatch.sh
"""
# What the guest prints about its volumes (see the module's docstring).
DISK_ADDED = "STRATA-DISK-ADDED"
DISK_REMOVED = "STRATA-DISK-REMOVED"
DISK_DATA = "STRATA-DISK-DATA"
DATA_MARKER = "STRATA-DATA"
# Polled, not driven by uevents: busybox has no udev, and half a second is
# well below what an attach costs through the API.
DISK_WATCH = r"""#!/bin/sh
# The guest's own sysfs and devtmpfs; a unit test points them at a folder.
sys=${STRATA_SYS_BLOCK:-/sys/block} dev=${STRATA_DEV:-/dev} tmp=${STRATA_TMP:-/tmp}
volume() {
  n=0
  while [ ! -e "$dev/$1" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
  echo "STRATA-DISK-ADDED: $1 serial=$(cat "$sys/$1/serial" 2>/dev/null) sectors=$(cat "$sys/$1/size")"
  # Never write over a disk that could not be read: it may hold a marker.
  if ! dd if="$dev/$1" of="$tmp/sector" bs=512 count=1 iflag=direct 2>/dev/null; then
    echo "STRATA-DISK-DATA: $1 unreadable"
    return
  fi
  token=$(head -c 64 "$tmp/sector" | tr -d '\000' | head -n 1 | sed -n 's/^STRATA-DATA \([0-9a-f][0-9a-f]*\)$/\1/p')
  if [ -n "$token" ]; then
    echo "STRATA-DISK-DATA: $1 found $token"
    return
  fi
  token=$(tr -d - < /proc/sys/kernel/random/uuid)
  printf 'STRATA-DATA %s\n' "$token" > "$tmp/marker"
  # O_DIRECT and fsync: on the volume's file before anyone can detach it.
  if dd if="$tmp/marker" of="$dev/$1" bs=512 count=1 conv=sync,notrunc,fsync oflag=direct 2>/dev/null; then
    echo "STRATA-DISK-DATA: $1 wrote $token"
  else
    echo "STRATA-DISK-DATA: $1 write failed"
  fi
}
known="vda vdb"
while true; do
  now="vda vdb"
  for path in "$sys"/vd*; do
    disk=${path##*/}
    case " $now " in *" $disk "*) continue ;; esac
    [ -e "$path" ] || continue
    now="$now $disk"
    case " $known " in *" $disk "*) ;; *) volume "$disk" ;; esac
  done
  for disk in $known; do
    case " $now " in *" $disk "*) ;; *) echo "STRATA-DISK-REMOVED: $disk" ;; esac
  done
  known=$now
  sleep 0.5
done
"""
DATA_LINE = re.compile(rf"{DISK_DATA}: (vd[a-z]+) (found|wrote) ([0-9a-f]+)")


def disk_data(console: str, dev: str, verb: str) -> list[str]:
    """The tokens the guest said it `verb` ("found" or "wrote") on `dev`."""
    return [m.group(3) for m in DATA_LINE.finditer(console) if m.group(1, 2) == (dev, verb)]


# busybox udhcpc only reports a lease; this applies it (address and route).
UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    if [ -n "$staticroutes" ]; then
      # Option 121 replaces option 3, and carries the metadata route.
      set -- $staticroutes
      while [ $# -ge 2 ]; do ip route replace "$1" via "$2" dev "$interface"; shift 2; done
    elif [ -n "$router" ]; then
      ip route add default via "${router%% *}"
    fi
    echo "$ip" > /tmp/lease
    ;;
esac
"""


# Once it has a lease, the guest asks the metadata service who it is, the
# way cloud-init would (a proxy may still be starting: a few tries). No
# `wget -T`: busybox 1.35's wget crashes with it on a refused connection.
METADATA_LINE = "STRATA-METADATA"
METADATA_SCRIPT = f"""#!/bin/sh
url=http://169.254.169.254
for try in $(seq 30); do
  meta=$(wget -q -O - $url/openstack/latest/meta_data.json) && break
  sleep 1
done
uuid=$(echo "$meta" | sed -n 's/.*"uuid": *"\\([^"]*\\)".*/\\1/p')
ec2=$(wget -q -O - $url/latest/meta-data/instance-id)
echo "{METADATA_LINE}: uuid=$uuid instance-id=$ec2"
"""


class GuestUnavailable(RuntimeError):
    """The guest cannot be built here (no apt, no network, no dpkg-deb)."""


@dataclass(frozen=True)
class Guest:
    kernel: Path
    initrd: Path
    disk: Path


def cache_dir() -> Path:
    return Path(os.environ.get("STRATA_TEST_GUEST_CACHE", "/var/cache/strata-test-guest"))


def _run(args: list[str], cwd: Path) -> str:
    try:
        done = subprocess.run(
            args, cwd=cwd, capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise GuestUnavailable(f"{args[0]}: {error}") from error
    if done.returncode != 0:
        raise GuestUnavailable(f"{' '.join(args)}: {done.stderr.strip()[-400:]}")
    return done.stdout


def _kernel_package(debs: Path) -> str:
    """The versioned package behind Debian's linux-image-cloud-amd64."""
    for meta in ("linux-image-cloud-amd64", "linux-image-amd64"):
        out = _run(["apt-cache", "depends", "--important", meta], debs)
        found = re.findall(r"Depends: (linux-image-[0-9]\S+)", out)
        if found:
            return str(found[0])
    raise GuestUnavailable("no Debian kernel package found by apt-cache")


def _download(debs: Path) -> tuple[Path, Path]:
    kernel = _kernel_package(debs)
    if not list(debs.glob(f"{kernel}_*.deb")):
        _run(["apt-get", "download", kernel], debs)
    if not list(debs.glob("busybox-static_*.deb")):
        _run(["apt-get", "download", "busybox-static"], debs)
    return next(debs.glob(f"{kernel}_*.deb")), next(debs.glob("busybox-static_*.deb"))


def _module_order(modules: dict[str, Path]) -> list[str]:
    """Each wanted module after its dependencies (read from .modinfo)."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        found = re.search(rb"depends=([^\0]*)\0", modules[name].read_bytes())
        for dep in filter(None, (found.group(1).decode() if found else "").split(",")):
            visit(dep)
        order.append(name)

    for name in MODULES:
        visit(name)
    return order


def _cpio(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A newc cpio archive (the kernel's initramfs format): (path, mode, data)."""
    out = io.BytesIO()
    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], start=1):
        encoded = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0]
        out.write(b"070701" + b"".join(f"{f:08x}".encode() for f in fields) + encoded)
        out.write(b"\0" * (-(110 + len(encoded)) % 4) + data + b"\0" * (-len(data) % 4))
    return out.getvalue()


def _initramfs(root: Path, busybox: Path) -> bytes:
    (version,) = [p.name for p in (root / "lib/modules").iterdir()]
    modules = {p.stem: p for p in (root / "lib/modules" / version).rglob("*.ko")}
    order = _module_order(modules)
    entries: list[tuple[str, int, bytes]] = [
        (d, 0o040755, b"") for d in ("bin", "dev", "proc", "sys", "modules", "seed", "tmp")
    ]
    entries.append(("udhcpc.sh", 0o100755, UDHCPC_SCRIPT.encode()))
    entries.append(("metadata.sh", 0o100755, METADATA_SCRIPT.encode()))
    entries.append(("diskwatch.sh", 0o100755, DISK_WATCH.encode()))
    entries.append(("bin/busybox", 0o100755, busybox.read_bytes()))
    entries.append(("init", 0o100755, INIT.encode()))
    entries.append(("modules/order", 0o100644, "\n".join(order).encode() + b"\n"))
    entries += [(f"modules/{n}.ko", 0o100644, modules[n].read_bytes()) for n in order]
    return gzip.compress(_cpio(entries), compresslevel=6)


def build_guest() -> Guest:
    """The cached guest, built first if needed (needs apt and dpkg-deb)."""
    for tool in ("apt-get", "apt-cache", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise GuestUnavailable(f"{tool} is not installed")
    out = cache_dir() / f"guest-v{BUILD_VERSION}"
    guest = Guest(out / "vmlinuz", out / "initrd.gz", out / "disk.raw")
    if all(p.exists() for p in (guest.kernel, guest.initrd, guest.disk)):
        return guest
    debs = cache_dir() / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    os.chmod(debs, 0o777)  # apt-get download drops privileges to _apt when it can
    kernel_deb, busybox_deb = _download(debs)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        root, bb = Path(tmp) / "kernel", Path(tmp) / "busybox"
        _run(["dpkg-deb", "-x", str(kernel_deb), str(root)], debs)
        _run(["dpkg-deb", "-x", str(busybox_deb), str(bb)], debs)
        staged = Path(tmp) / "guest"
        staged.mkdir()
        shutil.copyfile(next((root / "boot").glob("vmlinuz-*")), staged / "vmlinuz")
        (staged / "initrd.gz").write_bytes(_initramfs(root, bb / "bin/busybox"))
        (staged / "disk.raw").write_bytes(DISK_MARKER + b"\0" * (1024 * 1024 - len(DISK_MARKER)))
        shutil.rmtree(out, ignore_errors=True)
        staged.rename(out)
    return guest


if __name__ == "__main__":
    print(build_guest())
