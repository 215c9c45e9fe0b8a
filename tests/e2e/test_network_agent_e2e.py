"""`strata up` with its network agent on: a port created through the API
becomes ACTIVE once its device is plugged, and a deleted network's bridge
goes away. The agent's host side runs in a namespace the test owns."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openstack
import pytest

from tests.e2e.cloud import RunningCloud, start_cloud
from workers.network import names
from workers.network.probe import probe

pytestmark = [pytest.mark.e2e, pytest.mark.root]

HOST = "e2e-host"


def sh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=True)


@pytest.fixture
def agent_cloud(tmp_path: Path) -> Iterator[tuple[RunningCloud, str]]:
    found = probe("linuxbridge")
    if found.driver is None:
        if os.environ.get("CI"):
            pytest.fail(f"the network agent cannot run in CI: {found.reason}")
        pytest.skip(found.reason)
    netns = f"e2e-{uuid.uuid4().hex[:6]}"
    sh("ip", "netns", "add", netns)
    sh("ip", "-n", netns, "link", "set", "lo", "up")
    cloud = start_cloud(
        tmp_path / "cloud",
        extra_env={
            "STRATA_NETWORK_AGENT": "linuxbridge",
            "STRATA_HOST": HOST,
            "STRATA_AGENT_NETNS": netns,
            "STRATA_AGENT_NAMESPACE_PREFIX": f"{netns}-",
            "STRATA_AGENT_INTERVAL": "2",
        },
    )
    try:
        yield cloud, netns
    finally:
        cloud.stop()
        for ns in sh("ip", "netns", "list").stdout.split("\n"):
            name = ns.split(" ")[0]
            if name.startswith(netns):
                subprocess.run(["ip", "netns", "delete", name], check=False)


def wait(condition: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def links(netns: str) -> str:
    return sh("ip", "-n", netns, "-o", "link", "show").stdout


def test_agent_binds_a_plugged_port_and_removes_a_deleted_network(
    agent_cloud: tuple[RunningCloud, str],
) -> None:
    cloud, netns = agent_cloud
    conn = openstack.connect(
        auth_url=cloud.auth_url,
        username="admin",
        password=cloud.password,
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
    )
    network = conn.network.create_network(name="agent-net")
    conn.network.create_subnet(network_id=network.id, cidr="10.77.0.0/24", ip_version=4)
    port = conn.network.create_port(
        network_id=network.id,
        device_owner="compute:nova",
        device_id=str(uuid.uuid4()),
        binding_host_id=HOST,
    )
    assert port.status == "DOWN"
    bridge = names.bridge(network.id)
    wait(lambda: bridge in links(netns), "the network's bridge on the host")
    assert conn.network.get_port(port.id).status == "DOWN", "no device yet: not up"

    # What compute does when a guest starts: its tap appears on the host.
    # (a veth: this kernel has no dummy links)
    tap = names.tap(port.id)
    sh("ip", "-n", netns, "link", "add", tap, "type", "veth", "peer", "name", "g" + port.id[:11])
    active = wait(
        lambda: conn.network.get_port(port.id).status == "ACTIVE", "the port to become ACTIVE"
    )
    assert active
    assert (
        f"master {bridge}" in sh("ip", "-n", netns, "-d", "link", "show", names.tap(port.id)).stdout
    )

    conn.network.delete_port(port.id)
    sh("ip", "-n", netns, "link", "delete", tap)
    conn.network.delete_network(network.id)
    wait(lambda: bridge not in links(netns), "the deleted network's bridge to go")
