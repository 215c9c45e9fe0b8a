"""IPv6 router advertisements from a router namespace, sent by dnsmasq.

dnsmasq already runs the DHCP servers, so it sends the RAs too rather than
a second daemon (radvd) to install and supervise. Its RA flags follow from
each range's mode: `ra-only` (A: SLAAC), `ra-stateless` (A and O: SLAAC plus
DHCPv6 for options) and `static` (M and O: DHCPv6 addresses). Those last
two modes would also make this dnsmasq answer DHCPv6, but the answers are
the DHCP namespace's business (it has the static leases): every client is
unknown here (no hosts), and `--dhcp-ignore=tag:!known` keeps it silent.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from infra.net.dnsmasq import BINARY, Dnsmasq


class RouterAdvertiser(Dnsmasq):
    """One dnsmasq per router namespace: RAs on its IPv6 interfaces only."""

    def __init__(self, directory: Path, ra_params: list[str]) -> None:
        super().__init__(directory)
        # `--ra-param` values (interface, MTU, interval), part of the command.
        self.ra_params = ra_params

    def command(self, interface: str, dhcp_ranges: list[str]) -> list[str]:
        args = [
            BINARY,
            "--conf-file=/dev/null",
            "--no-hosts",
            "--no-resolv",
            "--port=0",
            *(f"--interface={name}" for name in interface.split(",")),
            "--except-interface=lo",
            "--bind-interfaces",
            "--leasefile-ro",
            "--enable-ra",
            "--dhcp-ignore=tag:!known",
            f"--pid-file={self.pid_file}",
            f"--log-facility={self.log_file}",
            f"--user={pwd.getpwuid(os.geteuid()).pw_name}",
        ]
        args += [f"--ra-param={p}" for p in self.ra_params]
        args += [f"--dhcp-range={r}" for r in dhcp_ranges]
        return args
