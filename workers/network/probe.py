"""Decide whether this process can converge real networking, and say why not.

The embedded profile must run anywhere; DESIGN.md asks that networking be
real "when the process may" and that the choice be stated clearly. This
module only looks (capabilities and binaries); it changes nothing.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from workers.network.context import Driver

CAP_NET_ADMIN = 12
_SBIN = (Path("/usr/sbin"), Path("/sbin"))


@dataclass(frozen=True)
class Probe:
    driver: Driver | None  # None: the agent cannot run here
    reason: str


def _has(binary: str) -> bool:
    return shutil.which(binary) is not None or any((d / binary).exists() for d in _SBIN)


def _has_net_admin() -> bool:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    except OSError:
        pass
    return os.geteuid() == 0


def probe(requested: Driver = "linuxbridge") -> Probe:
    if not _has_net_admin():
        return Probe(None, "no CAP_NET_ADMIN: networking is not converged on this host")
    missing = [b for b in ("ip", "nft", "dnsmasq") if not _has(b)]
    if requested == "ovs":
        missing += [b for b in ("ovs-vsctl", "ovsdb-server", "ovs-vswitchd") if not _has(b)]
    if missing:
        return Probe(None, f"missing {', '.join(missing)}: networking is not converged")
    if requested == "ovs":
        return Probe("ovs", "Open vSwitch, userspace datapath (netdev)")
    return Probe("linuxbridge", "Linux bridges, VXLAN, nftables and dnsmasq")
