"""The network agent: converge one host's kernel networking to a HostSpec.

`NetworkAgent.converge(spec)` is the whole contract: it reads what exists
(links, namespaces, nftables tables, dnsmasq processes), creates what is
missing, fixes what differs, deletes what carries a Strata name but is no
longer wanted, and returns a Report. Running it twice with the same spec
changes nothing the second time, so it is safe to call on every event and
on a timer (the periodic full reconcile is just another call).

Order matters: bridges first (everything plugs into them), then the
namespaces whose veths plug in, then attaching all taps, then cleanup, and
the security group tables last so they cover every port now present.
"""

from __future__ import annotations

import threading
from types import ModuleType

from infra.net import namespaces
from infra.net.links import Links
from infra.net.namespaces import iproute
from workers.network import dhcp, linuxbridge, ovs, routers, security
from workers.network.context import AgentOptions, Pass
from workers.network.desired import HostSpec
from workers.network.report import Report
from workers.network.tables import TableSync

__all__ = ["AgentOptions", "NetworkAgent", "Report", "converge"]


class NetworkAgent:
    def __init__(self, options: AgentOptions) -> None:
        self.options = options
        self._tables = TableSync()
        # One pass at a time: an event-triggered pass and the periodic one
        # must not interleave their reads and writes of the same devices.
        self._lock = threading.Lock()

    @property
    def _driver(self) -> ModuleType:
        return ovs if self.options.driver == "ovs" else linuxbridge

    def converge(self, spec: HostSpec) -> Report:
        report = Report()
        with self._lock:
            host_ns = self.options.host_netns
            if host_ns is not None and not namespaces.exists(host_ns):
                report.failed(spec.host, LookupError(f"host namespace {host_ns} does not exist"))
                return report
            self.options.state_dir.mkdir(parents=True, exist_ok=True)
            with iproute(host_ns) as ipr:
                run = Pass(spec, self.options, Links(ipr), report, self._tables)
                driver = self._driver
                driver.ensure_networks(run)
                dhcp.converge(run)
                routers.converge(run)
                driver.attach_ports(run)
                driver.remove_stale(run)
                security.converge(run)
            # A port whose filtering failed is not up, even with its tap plugged.
            report.ports_up -= set(report.errors)
        return report


def converge(spec: HostSpec, options: AgentOptions) -> Report:
    """One pass with a fresh agent (no memory of applied nftables tables)."""
    return NetworkAgent(options).converge(spec)
