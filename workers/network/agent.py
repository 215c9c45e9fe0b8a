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

import contextlib
import logging
import threading
from types import ModuleType
from typing import Any

from infra.net import namespaces
from infra.net.namespaces import iproute
from workers.network import dhcp, linuxbridge, ovs, routers, security
from workers.network.context import AgentOptions, Pass
from workers.network.desired import HostSpec
from workers.network.link_cache import CachedLinks
from workers.network.report import Report
from workers.network.tables import TableSync

__all__ = ["AgentOptions", "NetworkAgent", "Report", "converge"]

log = logging.getLogger(__name__)


class NetworkAgent:
    def __init__(self, options: AgentOptions) -> None:
        self.options = options
        self._tables = TableSync()
        # One pass at a time: an event-triggered pass and the periodic one
        # must not interleave their reads and writes of the same devices.
        self._lock = threading.Lock()
        # The socket into the host namespace, kept from pass to pass: opening
        # one into a named namespace forks a pyroute2 helper, which cost a
        # pass tens of milliseconds. Dropped after a pass with failures (in
        # case the socket is why) and when the namespace is gone (a socket
        # would keep a deleted namespace alive).
        self._host = contextlib.ExitStack()
        self._host_ipr: Any = None
        # The same for router and DHCP namespaces, closed when one goes.
        self._sockets = namespaces.Sockets()

    @property
    def _driver(self) -> ModuleType:
        return ovs if self.options.driver == "ovs" else linuxbridge

    def converge(self, spec: HostSpec, verify: bool = True) -> Report:
        """Converge to `spec`; `verify=False` trusts what this agent applied.

        A quick pass (a wake-up, on the way of a port to ACTIVE) does not
        list the nftables tables and sysctls it applied before (see
        tables.py); the timer's pass and direct calls verify them all.
        """
        report = Report()
        with self._lock:
            host_ns = self.options.host_netns
            if host_ns is not None and not namespaces.exists(host_ns):
                self._drop_host_socket()
                self._sockets.close()
                report.failed(spec.host, LookupError(f"host namespace {host_ns} does not exist"))
                return report
            self.options.state_dir.mkdir(parents=True, exist_ok=True)
            self._tables.verify = verify
            try:
                links = CachedLinks(self._host_socket(host_ns))
                run = Pass(spec, self.options, links, report, self._tables, self._sockets)
                driver = self._driver
                # (stage, whether it starts from a fresh dump of the links)
                stages = (
                    (driver.ensure_networks, True),
                    # Only the agent's own devices: the dump above serves.
                    (dhcp.converge, False),
                    (routers.converge, False),
                    # Compute's taps come on their own, and the stages above
                    # may have deleted namespaces (and so veth ends) by hand.
                    (driver.attach_ports, True),
                    (driver.remove_stale, False),
                    (security.converge, False),
                )
                for stage, fresh in stages:
                    if fresh:
                        # Sockets into namespaces deleted (by hand or by the
                        # stages above) would keep them and their veths.
                        self._sockets.prune()
                        links.forget()
                    stage(run)
            except BaseException:
                self._drop_sockets()
                raise
            if report.errors:
                self._drop_sockets()
            # A port whose filtering failed is not up, even with its tap plugged.
            report.ports_up -= set(report.errors)
        return report

    def settle(self) -> None:
        """Work a quick pass left for later, off a port's way to ACTIVE."""
        with self._lock:
            try:
                self._tables.settle()
            except Exception:  # the next verifying pass reapplies instead
                log.exception("network agent could not list its tables")

    def close(self) -> None:
        """Let go of the host namespace (the agent stops)."""
        with self._lock:
            self._drop_sockets()

    def _host_socket(self, host_ns: str | None) -> Any:
        if self._host_ipr is None:
            self._host_ipr = self._host.enter_context(iproute(host_ns))
        return self._host_ipr

    def _drop_host_socket(self) -> None:
        self._host.close()
        self._host_ipr = None

    def _drop_sockets(self) -> None:
        """After a failure (in case a socket is why) and when the agent stops."""
        self._drop_host_socket()
        self._sockets.close()


def converge(spec: HostSpec, options: AgentOptions) -> Report:
    """One pass with a fresh agent (no memory of applied nftables tables)."""
    agent = NetworkAgent(options)
    try:
        return agent.converge(spec)
    finally:
        agent.close()
