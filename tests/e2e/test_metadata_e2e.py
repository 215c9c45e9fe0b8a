"""The metadata service end to end: an instance fetches its own metadata from
169.254.169.254 over the real dataplane.

`strata up` runs its network agent (host side in a namespace the test owns)
and the compute agent on libvirt's test driver, so servers become ACTIVE
without guests. The test plays each guest: a namespace whose eth0 carries
the server port's MAC on the port's tap, configured by busybox udhcpc with
the routes DHCP hands out (option 121 names the metadata route), and asks
with busybox wget — through the router's proxy on a routed network, through
the DHCP namespace's proxy on an isolated one.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openstack
import pytest

from infra.net import namespaces
from infra.net.dnsmasq import Dnsmasq
from infra.net.metadata_process import MetadataProcess
from tests.e2e.cloud import RunningCloud, start_cloud
from tests.e2e.test_network_dataplane_e2e import wait
from tests.integration.test_network_agent import sh
from workers.network import names
from workers.network.probe import probe

pytestmark = [pytest.mark.e2e, pytest.mark.root]

HOST = "md-host"
METADATA = "http://169.254.169.254"
# Applies a lease the way a guest's DHCP client does: the address, then every
# classless static route (option 121; busybox names them $staticroutes).
UDHCPC_SCRIPT = """#!/bin/sh
[ "$1" = bound ] || exit 0
ip addr add "$ip/$mask" dev "$interface"
set -- $staticroutes
while [ $# -ge 2 ]; do ip route replace "$1" via "$2" dev "$interface"; shift 2; done
echo "$ip $staticroutes" > "$0.lease"
"""


@dataclass
class Lab:
    cloud: RunningCloud
    netns: str  # the agent's "host"
    conn: Any
    tmp: Path
    image_id: str = ""
    flavor_id: str = ""

    def instance(self, port: Any) -> str:
        """A guest namespace plugged into the port and configured by DHCP."""
        ns = f"{self.netns}-vm{port.id[:4]}"
        namespaces.ensure_namespace(ns)
        tap = names.tap(port.id)
        sh("ip", "-n", self.netns, "link", "add", tap, "type", "veth", "peer", "eth0", "netns", ns)
        sh("ip", "-n", ns, "link", "set", "eth0", "address", port.mac_address, "mtu", "1450", "up")
        script = self.tmp / f"udhcpc-{ns}.sh"
        script.write_text(UDHCPC_SCRIPT)
        script.chmod(0o755)
        udhcpc = ["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "20", "-T", "1"]
        udhcpc += ["-O", "staticroutes"]  # option 121 is asked for, not sent unasked
        sh("ip", "netns", "exec", ns, *udhcpc, "-s", str(script), timeout=60)
        return ns

    def boot(self, name: str, network_id: str, **fields: Any) -> tuple[Any, Any]:
        server = self.conn.compute.create_server(
            name=name,
            flavor_id=self.flavor_id,
            image_id=self.image_id,
            networks=[{"uuid": network_id}],
            **fields,
        )
        server = self.conn.compute.wait_for_server(server, status="ACTIVE", wait=60)
        ports = list(self.conn.network.ports(device_id=server.id))
        assert len(ports) == 1
        return server, ports[0]


def fetch(ns: str, path: str) -> subprocess.CompletedProcess[str]:
    wget = ["busybox", "wget", "-q", "-O", "-", METADATA + path]  # (-T makes busybox 1.35 crash)
    return sh("ip", "netns", "exec", ns, *wget, check=False, timeout=30)


def fetched(ns: str, path: str) -> str:
    """The document at `path` once the proxy answers (the agent converges
    asynchronously: namespaces, proxies and the relay come up in its passes)."""
    found: list[str] = []

    def answered() -> bool:
        result = fetch(ns, path)
        if result.returncode == 0:
            found.append(result.stdout)
        return result.returncode == 0

    wait(answered, f"{path} from {ns}", timeout=60)
    return found[0]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    found = probe("linuxbridge")
    if found.driver is None:
        if os.environ.get("CI"):
            pytest.fail(f"the network agent cannot run in CI: {found.reason}")
        pytest.skip(found.reason)
    netns = f"md{secrets.token_hex(3)}"
    namespaces.ensure_namespace(netns)
    data_dir = tmp_path / "cloud"
    cloud = start_cloud(
        data_dir,
        extra_env={
            "STRATA_NETWORK_AGENT": "linuxbridge",
            "STRATA_COMPUTE_DRIVER": "test",
            "STRATA_HOST": HOST,
            "STRATA_AGENT_NETNS": netns,
            "STRATA_AGENT_NAMESPACE_PREFIX": f"{netns}-",
            "STRATA_AGENT_INTERVAL": "2",
        },
    )
    conn = openstack.connect(
        auth_url=cloud.auth_url,
        username="admin",
        password=cloud.password,
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
    )
    lab = Lab(cloud, netns, conn, tmp_path)
    try:
        flavor = conn.compute.create_flavor(name="md.tiny", vcpus=1, ram=128, disk=0)
        image = conn.image.create_image(
            name="md-image", data=b"\0" * 1024, disk_format="raw", container_format="bare"
        )
        lab.flavor_id, lab.image_id = flavor.id, image.id
        yield lab
    finally:
        cloud.stop()
        state = data_dir / "network-agent"
        # Stopped through their pid files: this test's processes and no others.
        for folder in sorted((state / "dhcp").glob("*")):
            Dnsmasq(folder).stop()
        for folder in [
            *sorted((state / "metadata").glob("proxies/*")),
            state / "metadata" / "relay",
        ]:
            MetadataProcess(folder).stop()
        for ns in namespaces.list_namespaces():
            if ns.startswith(netns):
                namespaces.delete_namespace(ns)


def test_an_instance_behind_a_router_reads_its_metadata(lab: Lab) -> None:
    conn = lab.conn
    net = conn.network.create_network(name="md-net")
    subnet = conn.network.create_subnet(network_id=net.id, cidr="10.71.0.0/24", ip_version=4)
    router = conn.network.create_router(name="md-router")
    conn.network.add_interface_to_router(router, subnet_id=subnet.id)
    keypair = conn.compute.create_keypair(name="md-key")
    user_data = b"#cloud-config\nhostname: from-user-data\n"
    server, port = lab.boot(
        "md-vm",
        net.id,
        key_name="md-key",
        user_data=base64.b64encode(user_data).decode(),
        metadata={"purpose": "metadata-e2e"},
    )
    vm = lab.instance(port)
    lease = (lab.tmp / f"udhcpc-{vm}.sh.lease").read_text().split()
    assert lease[0] == port.fixed_ips[0]["ip_address"]
    assert lease[1:3] == ["169.254.169.254/32", "10.71.0.1"], "the metadata route via the router"

    meta = json.loads(fetched(vm, "/openstack/latest/meta_data.json"))
    assert meta["uuid"] == server.id
    assert meta["name"] == "md-vm" and meta["hostname"] == "md-vm.novalocal"
    assert meta["project_id"] == conn.current_project_id
    assert meta["public_keys"] == {"md-key": keypair.public_key}
    assert meta["meta"] == {"purpose": "metadata-e2e"}
    instance_id = fetched(vm, "/latest/meta-data/instance-id")
    assert instance_id == "i-" + uuid.UUID(server.id).hex[:8]
    assert fetched(vm, "/latest/meta-data/local-ipv4") == lease[0]
    assert fetched(vm, "/latest/user-data").encode() == user_data
    assert fetched(vm, "/openstack/latest/user_data").encode() == user_data
    key = fetched(vm, "/latest/meta-data/public-keys/0/openssh-key")
    assert key == keypair.public_key
    # The guest cannot claim to be someone else: what it sends is replaced.
    forged = [
        "busybox",
        "wget",
        "-q",
        "-O",
        "-",
        "--header",
        "X-Forwarded-For: 10.71.0.250",
        METADATA + "/latest/meta-data/instance-id",
    ]
    assert sh("ip", "netns", "exec", vm, *forged).stdout == instance_id


def test_an_isolated_network_serves_metadata_from_its_dhcp_namespace(lab: Lab) -> None:
    conn = lab.conn
    net = conn.network.create_network(name="md-isolated")
    # A gateway address but no router behind it: only the DHCP namespace
    # can answer (a subnet without a gateway is routed the same way).
    subnet = conn.network.create_subnet(network_id=net.id, cidr="10.72.0.0/24", ip_version=4)
    assert subnet.gateway_ip == "10.72.0.1"
    server, port = lab.boot("md-lonely", net.id)
    vm = lab.instance(port)
    lease = (lab.tmp / f"udhcpc-{vm}.sh.lease").read_text().split()
    dhcp_ports = list(conn.network.ports(network_id=net.id, device_owner="network:dhcp"))
    dhcp_ip = dhcp_ports[0].fixed_ips[0]["ip_address"]
    assert lease[1:3] == ["169.254.169.254/32", dhcp_ip], "the metadata route via DHCP"

    meta = json.loads(fetched(vm, "/openstack/latest/meta_data.json"))
    assert meta["uuid"] == server.id and "public_keys" not in meta
    assert fetched(vm, "/latest/meta-data/instance-id") == "i-" + uuid.UUID(server.id).hex[:8]
    assert fetch(vm, "/latest/user-data").returncode != 0, "no user data: 404"
    proxies = lab.cloud.data_dir / "network-agent" / "metadata" / "proxies"
    dhcp_ns = names.dhcp_namespace(f"{lab.netns}-", net.id)
    assert MetadataProcess(proxies / dhcp_ns).pid() is not None

    # Deleting the network takes its DHCP namespace and, with it, the proxy.
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=60)
    conn.network.delete_network(net)
    wait(lambda: not namespaces.exists(dhcp_ns), "the DHCP namespace to go")
    wait(lambda: MetadataProcess(proxies / dhcp_ns).pid() is None, "its proxy to stop")
