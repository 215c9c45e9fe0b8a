"""Bulk create, extra routes and If-Match on a running Strata, driven by
openstacksdk and the `openstack` CLI as users would."""

from __future__ import annotations

import pytest
from openstack import exceptions

from tests.e2e.cloud import RunningCloud
from tests.e2e.test_identity_cli import osc, osc_json
from tests.e2e.test_identity_sdk import connect

pytestmark = pytest.mark.e2e


def test_sdk_bulk_ports_extra_routes_and_if_match(cloud: RunningCloud) -> None:
    conn = connect(cloud)
    net = conn.network.create_network(name="bulk-net")
    subnet = conn.network.create_subnet(network_id=net.id, cidr="10.46.0.0/24", ip_version=4)
    ports = list(
        conn.network.create_ports([{"network_id": net.id, "name": f"bulk-{i}"} for i in range(4)])
    )
    assert [p.name for p in ports] == [f"bulk-{i}" for i in range(4)]
    assert len({p.fixed_ips[0]["ip_address"] for p in ports}) == 4
    with pytest.raises(exceptions.ConflictException):
        list(
            conn.network.create_ports(
                [
                    {
                        "network_id": net.id,
                        "name": "dup-a",
                        "fixed_ips": [{"ip_address": "10.46.0.99"}],
                    },
                    {
                        "network_id": net.id,
                        "name": "dup-b",
                        "fixed_ips": [{"ip_address": "10.46.0.99"}],
                    },
                ]
            )
        )
    assert not list(conn.network.ports(name="dup-a"))

    router = conn.network.create_router(name="bulk-router")
    conn.network.add_interface_to_router(router, subnet_id=subnet.id)
    route = {"destination": "192.168.46.0/24", "nexthop": "10.46.0.50"}
    router = conn.network.add_extra_routes_to_router(router, body={"router": {"routes": [route]}})
    assert router.routes == [route]
    with pytest.raises(exceptions.BadRequestException):
        conn.network.update_router(
            router, routes=[{"destination": "192.168.47.0/24", "nexthop": "10.99.0.1"}]
        )
    router = conn.network.remove_extra_routes_from_router(
        router, body={"router": {"routes": [route]}}
    )
    assert router.routes == []

    port = conn.network.get_port(ports[0].id)
    with pytest.raises(exceptions.HttpException) as stale:
        conn.network.delete_port(port, if_revision=port.revision_number + 1)
    assert stale.value.status_code == 412
    conn.network.delete_port(port, if_revision=port.revision_number)
    assert conn.network.find_port(port.id) is None


def test_cli_router_routes(cloud: RunningCloud) -> None:
    osc_json(cloud, "network", "create", "route-net")
    osc_json(
        cloud,
        "subnet",
        "create",
        "--network",
        "route-net",
        "--subnet-range",
        "10.47.0.0/24",
        "route-subnet",
    )
    osc_json(cloud, "router", "create", "route-router")
    osc(cloud, "router", "add", "subnet", "route-router", "route-subnet")
    osc(
        cloud,
        "router",
        "set",
        "--route",
        "destination=192.168.48.0/24,gateway=10.47.0.10",
        "route-router",
    )
    osc(
        cloud,
        "router",
        "add",
        "route",
        "--route",
        "destination=192.168.49.0/24,gateway=10.47.0.11",
        "route-router",
    )
    shown = osc_json(cloud, "router", "show", "route-router")
    assert sorted(r["destination"] for r in shown["routes"]) == [
        "192.168.48.0/24",
        "192.168.49.0/24",
    ]
    osc(
        cloud,
        "router",
        "remove",
        "route",
        "--route",
        "destination=192.168.48.0/24,gateway=10.47.0.10",
        "route-router",
    )
    shown = osc_json(cloud, "router", "show", "route-router")
    assert shown["routes"] == [{"destination": "192.168.49.0/24", "nexthop": "10.47.0.11"}]
    osc(cloud, "router", "set", "--no-route", "route-router")
    assert osc_json(cloud, "router", "show", "route-router")["routes"] == []
