"""The options an agent runs with and the state one convergence pass shares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from infra.net.links import Links
from infra.net.namespaces import Sockets
from workers.network.desired import HostSpec
from workers.network.report import Report
from workers.network.tables import TableSync

Driver = Literal["linuxbridge", "ovs"]


@dataclass(frozen=True)
class AgentOptions:
    # Where dnsmasq configurations and pid files live (one folder per network).
    state_dir: Path
    # Run the "host" side (bridges, VXLAN, security groups) inside this named
    # namespace instead of the agent's own: lets tests simulate several hosts
    # on one machine. None: the real host.
    host_netns: str | None = None
    # Prepended to router/DHCP namespace names. Namespace names are global to
    # the machine, so two simulated hosts need different prefixes or each
    # agent would delete the other's namespaces as stale.
    namespace_prefix: str = ""
    driver: Driver = "linuxbridge"
    # ovsdb socket ("unix:/path") when not the system default.
    ovs_db: str | None = None


@dataclass
class Pass:
    """One convergence pass: the spec, the host's links and the report."""

    spec: HostSpec
    options: AgentOptions
    host: Links
    report: Report
    tables: TableSync
    # The agent's sockets into router and DHCP namespaces (None: open one per use).
    sockets: Sockets | None = None
