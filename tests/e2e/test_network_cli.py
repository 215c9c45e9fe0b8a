"""The `openstack` CLI against a running Strata: the network commands operators type."""

from __future__ import annotations

import pytest

from tests.e2e.cloud import RunningCloud
from tests.e2e.test_identity_cli import osc, osc_json

pytestmark = pytest.mark.e2e


def test_network_topology_with_the_cli(cloud: RunningCloud) -> None:
    ext = osc_json(cloud, "network", "create", "--external", "cli-public")
    assert ext["router:external"] is True
    osc_json(
        cloud,
        "subnet",
        "create",
        "--network",
        "cli-public",
        "--subnet-range",
        "203.0.113.0/24",
        "--no-dhcp",
        "cli-public-v4",
    )
    net = osc_json(cloud, "network", "create", "cli-private")
    assert net["status"] == "ACTIVE" and net["provider:segmentation_id"]
    subnet = osc_json(
        cloud,
        "subnet",
        "create",
        "--network",
        "cli-private",
        "--subnet-range",
        "10.30.0.0/24",
        "--dns-nameserver",
        "9.9.9.9",
        "cli-private-v4",
    )
    assert subnet["gateway_ip"] == "10.30.0.1"
    port = osc_json(
        cloud,
        "port",
        "create",
        "--network",
        "cli-private",
        "--fixed-ip",
        "subnet=cli-private-v4,ip-address=10.30.0.20",
        "cli-port",
    )
    assert port["fixed_ips"][0]["ip_address"] == "10.30.0.20"
    listed = osc_json(cloud, "port", "list", "--network", "cli-private")
    assert [p["ID"] for p in listed] == [port["id"]]
    router = osc_json(cloud, "router", "create", "cli-router")
    osc(cloud, "router", "set", "--external-gateway", "cli-public", "cli-router")
    osc(cloud, "router", "add", "subnet", "cli-router", "cli-private-v4")
    shown = osc_json(cloud, "router", "show", "cli-router")
    assert shown["external_gateway_info"]["network_id"] == ext["id"]
    fip = osc_json(cloud, "floating", "ip", "create", "cli-public")
    osc(cloud, "floating", "ip", "set", "--port", "cli-port", fip["floating_ip_address"])
    fip = osc_json(cloud, "floating", "ip", "show", fip["id"])
    assert fip["port_id"] == port["id"] and fip["router_id"] == router["id"]
    group = osc_json(cloud, "security", "group", "create", "cli-web")
    rule = osc_json(
        cloud,
        "security",
        "group",
        "rule",
        "create",
        "--protocol",
        "tcp",
        "--dst-port",
        "80:81",
        "--ingress",
        group["id"],
    )
    assert (rule["port_range_min"], rule["port_range_max"]) == (80, 81)
    bad = osc(
        cloud,
        "security",
        "group",
        "rule",
        "create",
        "--protocol",
        "tcp",
        "--dst-port",
        "90:80",
        group["id"],
        check=False,
    )
    assert bad.returncode != 0
    busy = osc(cloud, "network", "delete", "cli-private", check=False)
    assert busy.returncode != 0
    # Delete in the right order and everything goes.
    osc(cloud, "floating", "ip", "delete", fip["id"])
    osc(cloud, "router", "remove", "subnet", "cli-router", "cli-private-v4")
    osc(cloud, "router", "delete", "cli-router")
    osc(cloud, "port", "delete", "cli-port")
    osc(cloud, "network", "delete", "cli-private", "cli-public")
    assert "cli-private" not in osc(cloud, "network", "list").stdout
