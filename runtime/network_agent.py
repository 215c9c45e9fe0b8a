"""Run this host's network agent inside a Strata process, wired to the cloud.

The agent (workers/network) turns a HostSpec into kernel state; this module
feeds it (the network read model's view of this host), wakes it when that
view changes or when a device a waiting port needs appears
(workers/network/device_watch.py), and turns its reports into commands: a
plugged port is bound (ACTIVE), a port whose device went away is DOWN, a
resource that failed is ERROR with the reason. Reports are compared with the
read model first, so a pass that changes nothing dispatches nothing.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from commands.context import SYSTEM_CONTEXT
from commands.network.addresses import FixedIp
from commands.network.agent import BindPort, ReportPortStatus, ReportRouterStatus
from commands.network.ports import CreatePort, DeletePort
from domain.errors import DomainError
from projections.network.queries import host_state
from runtime.children import stop_children
from runtime.cloud import Cloud
from workers.network.agent import NetworkAgent
from workers.network.context import AgentOptions, Driver
from workers.network.desired import HostSpec
from workers.network.device_watch import DeviceWatch
from workers.network.from_state import spec_from_host_state
from workers.network.loop import AgentLoop
from workers.network.metadata import Relay
from workers.network.probe import probe
from workers.network.report import Report
from workers.network.topology import plugs

log = logging.getLogger(__name__)

DHCP_OWNER = "network:dhcp"
# How often the read model's change marker is looked at: a dictionary
# lookup, so often enough to add little to a port's way to ACTIVE.
WATCH_INTERVAL = 0.01
# The agent process learns of other processes' writes by catching up; SQLite
# has no notifications, so it looks often (one cheap max-id query).
AGENT_CATCH_UP_INTERVAL = 0.05


@dataclass
class RunningNetworkAgent:
    loop: AgentLoop | None
    description: str
    stop: Callable[[], None]


def _driver_for(cloud: Cloud) -> tuple[Driver | None, str]:
    wanted = cloud.settings.network_agent
    if wanted == "off":
        return None, "off (STRATA_NETWORK_AGENT=off)"
    requested: Driver = "ovs" if wanted == "ovs" else "linuxbridge"
    found = probe(requested)
    if found.driver is None and wanted != "auto":
        raise RuntimeError(f"network agent {wanted!r} cannot run here: {found.reason}")
    return found.driver, found.reason


class Reporter:
    """Turns agent reports into the commands that record what changed."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.state: dict[str, Any] = {}

    def load(self, embedded: bool) -> HostSpec:
        settings = self.cloud.settings
        self.state = host_state(self.cloud.db, settings.host, all_routers=embedded)
        if self._keep_dhcp_ports():
            self.state = host_state(self.cloud.db, settings.host, all_routers=embedded)
        links = {"external": settings.agent_external_interface}
        return spec_from_host_state(
            self.state,
            settings.agent_local_ip,
            settings.agent_peers,
            links if settings.agent_external_interface else None,
            serve_unbound_dhcp=embedded,
        )

    def _keep_dhcp_ports(self) -> bool:
        """Give each network with a guest here a DHCP port on this host (and
        take it back when the last guest leaves), the way Neutron's DHCP agent
        does; the agent serves DHCP from that port's addresses. Several hosts
        serving one network hand out the same static leases. True if changed."""
        host = self.cloud.settings.host
        ports = self.state.get("ports", [])
        changed = False
        for network in self.state.get("networks", []):
            if network["external"]:
                continue
            here = [p for p in ports if p["network_id"] == network["id"]]
            here = [p for p in here if p["binding_host"] == host]
            dhcp = [p for p in here if p["device_owner"] == DHCP_OWNER]
            guests = [p for p in here if not p["device_owner"].startswith("network:")]
            subnets = [s["id"] for s in network["subnets"] if s["enable_dhcp"]]
            if guests and subnets and not dhcp:
                command: Any = CreatePort(
                    network_id=uuid.UUID(network["id"]),
                    project_id=network["project_id"],
                    device_owner=DHCP_OWNER,
                    device_id=f"dhcp-{host}-{network['id']}",
                    binding_host_id=host,
                    fixed_ips=[FixedIp(subnet_id=uuid.UUID(s)) for s in subnets],
                )
                changed |= self._dispatch(command)
            elif dhcp and not (guests and subnets):
                for port in dhcp:
                    changed |= self._dispatch(DeletePort(port_id=uuid.UUID(port["id"])))
        return changed

    def publish(self, report: Report) -> None:
        ports = {p["id"]: p for p in self.state.get("ports", [])}
        routers = {r["id"]: r for r in self.state.get("routers", [])}
        host = self.cloud.settings.host
        for port_id in sorted(report.ports_up):
            port = ports.get(port_id)
            if port is not None and (port["status"] != "ACTIVE" or port["binding_host"] != host):
                self._dispatch(BindPort(port_id=uuid.UUID(port_id), host=host))
        for port_id in sorted(report.ports_waiting):
            port = ports.get(port_id)
            if port is not None and port["status"] == "ACTIVE":
                self._dispatch(ReportPortStatus(port_id=uuid.UUID(port_id), status="DOWN"))
        for resource_id, reason in sorted(report.errors.items()):
            if resource_id in ports and ports[resource_id]["status"] != "ERROR":
                command: Any = ReportPortStatus(
                    port_id=uuid.UUID(resource_id), status="ERROR", reason=reason[:255]
                )
                self._dispatch(command)
            elif resource_id in routers and routers[resource_id]["status"] != "ERROR":
                command = ReportRouterStatus(
                    router_id=uuid.UUID(resource_id), status="ERROR", reason=reason[:255]
                )
                self._dispatch(command)

    def _dispatch(self, command: Any) -> bool:
        try:
            self.cloud.bus.dispatch(command, SYSTEM_CONTEXT)
        except DomainError as error:  # the resource went away meanwhile
            log.info("network agent %s not recorded: %s", type(command).__name__, error)
            return False
        return True


def spawn_network_agent(cloud: Cloud) -> RunningNetworkAgent:
    """`strata up`'s agent, as a child process (`strata agent --embedded`).

    Not a thread: pyroute2 forks helpers to work inside namespaces, and a
    forked child that is later terminated writes its SIGTERM into the
    asyncio wake-up descriptor it inherited — which stopped every API server
    of the parent. A process of its own also keeps a root-only, crash-prone
    part away from the APIs.
    """
    driver, reason = _driver_for(cloud)
    if driver is None:
        return RunningNetworkAgent(None, f"not running: {reason}", lambda: None)
    settings = cloud.settings
    log_file = (settings.data_dir / "network-agent.log").open("ab")
    env = {**os.environ, "STRATA_CATCH_UP_INTERVAL": str(AGENT_CATCH_UP_INTERVAL)}
    process = subprocess.Popen(
        [sys.executable, "-m", "runtime.cli", "agent", "--embedded", "--host", settings.host],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches strata up, which stops it
    )

    def stop() -> None:
        stop_children([process])
        log_file.close()

    where = f" in namespace {settings.agent_netns}" if settings.agent_netns else ""
    description = f"{driver} on host {settings.host}{where}: {reason} (pid {process.pid})"
    return RunningNetworkAgent(None, description, stop)


def passes(loop: AgentLoop) -> int:
    return loop.last[0] if loop.last is not None else 0


def waiting_devices(loop: AgentLoop) -> frozenset[str]:
    """The devices the waiting ports of the loop's last pass need."""
    last = loop.last  # read once: the loop's thread replaces it
    if last is None:
        return frozenset()
    _, spec, report = last
    return frozenset(p.device for p in plugs(spec).values() if p.port_id in report.ports_waiting)


def start_network_agent(cloud: Cloud, embedded: bool = True) -> RunningNetworkAgent:
    """Start the agent loop in a thread, or explain why it does not run."""
    settings = cloud.settings
    driver, reason = _driver_for(cloud)
    if driver is None:
        return RunningNetworkAgent(None, f"not running: {reason}", lambda: None)
    options = AgentOptions(
        state_dir=settings.data_dir / "network-agent",
        host_netns=settings.agent_netns or None,
        namespace_prefix=settings.agent_namespace_prefix,
        driver=driver,
    )
    reporter = Reporter(cloud)
    # The host end of the metadata path: proxies in namespaces forward to it.
    relay = Relay.for_settings(settings, options.state_dir)
    agent = NetworkAgent(options)
    loop = AgentLoop(
        agent,
        load_spec=lambda: reporter.load(embedded),
        publish=reporter.publish,
        interval=settings.agent_interval,
        before_pass=relay.ensure,
        quick=lambda spec: agent.converge(spec, verify=False),
        after_publish=agent.settle,
    )
    stopping = threading.Event()

    def watch() -> None:
        """Wake the agent when the network read model changed here or elsewhere."""
        seen = cloud.runner.changed_position("network")
        while not stopping.wait(WATCH_INTERVAL):
            now = cloud.runner.changed_position("network")
            if now != seen:
                seen = now
                loop.poke()

    devices = DeviceWatch(
        options.host_netns, lambda: passes(loop), lambda: waiting_devices(loop), loop.poke
    )
    threads = [
        threading.Thread(target=loop.run, name="network-agent", daemon=True),
        threading.Thread(target=watch, name="network-agent-watch", daemon=True),
        threading.Thread(
            target=devices.run, args=(stopping,), name="network-agent-devices", daemon=True
        ),
    ]
    for thread in threads:
        thread.start()

    def stop() -> None:
        stopping.set()
        loop.stop()
        for thread in threads:
            thread.join(timeout=10)
        agent.close()
        relay.stop()

    where = f" in namespace {settings.agent_netns}" if settings.agent_netns else ""
    return RunningNetworkAgent(loop, f"{driver} on host {settings.host}{where}: {reason}", stop)
