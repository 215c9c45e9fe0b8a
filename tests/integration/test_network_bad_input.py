"""A table of bad requests: each gets a 400/404/409 in Neutron's format, never a
500, and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_network_http import Api, network_apis


@pytest.fixture(scope="module")
def apis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, Api, Api]]:
    yield from network_apis(tmp_path_factory.mktemp("net-api"))


BAD = [
    # (what, method, path template, body, status, Neutron type or None)
    (
        "malformed cidr",
        "POST",
        "/v2.0/subnets",
        {"subnet": {"network_id": "{net}", "cidr": "10.0.0.300/24", "ip_version": 4}},
        400,
        "InvalidInput",
    ),
    (
        "host bits in cidr",
        "POST",
        "/v2.0/subnets",
        {"subnet": {"network_id": "{net}", "cidr": "10.9.0.1/24", "ip_version": 4}},
        400,
        "InvalidInput",
    ),
    (
        "overlapping subnet",
        "POST",
        "/v2.0/subnets",
        {"subnet": {"network_id": "{net}", "cidr": "10.7.0.0/16", "ip_version": 4}},
        400,
        "InvalidInput",
    ),
    (
        "version mismatch",
        "POST",
        "/v2.0/subnets",
        {"subnet": {"network_id": "{net}", "cidr": "fd00::/64", "ip_version": 4}},
        400,
        "InvalidInput",
    ),
    (
        "gateway outside",
        "POST",
        "/v2.0/subnets",
        {"subnet": {"network_id": "{net}", "cidr": "10.8.0.0/24", "gateway_ip": "10.9.0.1"}},
        400,
        "InvalidIpForSubnet",
    ),
    (
        "pool overlaps gateway",
        "POST",
        "/v2.0/subnets",
        {
            "subnet": {
                "network_id": "{net}",
                "cidr": "10.8.0.0/24",
                "allocation_pools": [{"start": "10.8.0.1", "end": "10.8.0.9"}],
            }
        },
        400,
        "GatewayConflictWithAllocationPools",
    ),
    (
        "unknown network",
        "POST",
        "/v2.0/subnets",
        {"subnet": {"network_id": "00000000-0000-4000-8000-000000000000", "cidr": "10.8.0.0/24"}},
        404,
        "NetworkNotFound",
    ),
    (
        "fixed ip outside subnet",
        "POST",
        "/v2.0/ports",
        {
            "port": {
                "network_id": "{net}",
                "fixed_ips": [{"subnet_id": "{sub}", "ip_address": "10.99.0.5"}],
            }
        },
        400,
        "InvalidIpForSubnet",
    ),
    (
        "fixed ip on no subnet",
        "POST",
        "/v2.0/ports",
        {"port": {"network_id": "{net}", "fixed_ips": [{"ip_address": "10.99.0.5"}]}},
        400,
        "InvalidIpForNetwork",
    ),
    (
        "bad mac",
        "POST",
        "/v2.0/ports",
        {"port": {"network_id": "{net}", "mac_address": "zz:16:3e:00:00:01"}},
        400,
        "InvalidInput",
    ),
    (
        "unknown attribute",
        "POST",
        "/v2.0/networks",
        {"network": {"name": "x", "colour": "red"}},
        400,
        "HTTPBadRequest",
    ),
    (
        "wrong type",
        "POST",
        "/v2.0/networks",
        {"network": {"admin_state_up": "maybe"}},
        400,
        "HTTPBadRequest",
    ),
    ("no wrapper", "POST", "/v2.0/networks", {"name": "x"}, 400, "HTTPBadRequest"),
    ("not json", "POST", "/v2.0/networks", None, 400, None),
    (
        "unknown port",
        "GET",
        "/v2.0/ports/00000000-0000-4000-8000-000000000000",
        None,
        404,
        "PortNotFound",
    ),
    ("not a uuid", "DELETE", "/v2.0/networks/nope", None, 404, "NetworkNotFound"),
    ("network with ports", "DELETE", "/v2.0/networks/{net}", None, 409, "NetworkInUse"),
    ("subnet with ports", "DELETE", "/v2.0/subnets/{sub}", None, 409, "SubnetInUse"),
    (
        "rule min > max",
        "POST",
        "/v2.0/security-group-rules",
        {
            "security_group_rule": {
                "security_group_id": "{sg}",
                "direction": "ingress",
                "protocol": "tcp",
                "port_range_min": 90,
                "port_range_max": 80,
            }
        },
        400,
        "SecurityGroupInvalidPortRange",
    ),
    (
        "rule bad direction",
        "POST",
        "/v2.0/security-group-rules",
        {"security_group_rule": {"security_group_id": "{sg}", "direction": "sideways"}},
        400,
        "InvalidInput",
    ),
    (
        "rule ports without protocol",
        "POST",
        "/v2.0/security-group-rules",
        {
            "security_group_rule": {
                "security_group_id": "{sg}",
                "direction": "ingress",
                "port_range_min": 1,
            }
        },
        400,
        "SecurityGroupProtocolRequiredWithPorts",
    ),
    (
        "fip on internal network",
        "POST",
        "/v2.0/floatingips",
        {"floatingip": {"floating_network_id": "{net}"}},
        400,
        "BadRequest",
    ),
    ("interface without ids", "PUT", "/v2.0/routers/{router}/add_router_interface", {}, 400, None),
    (
        "non-admin shared",
        "POST",
        "/v2.0/networks",
        {"network": {"shared": True}},
        403,
        "PolicyNotAuthorized",
    ),
    (
        "ipv6 modes differ",
        "POST",
        "/v2.0/subnets",
        {
            "subnet": {
                "network_id": "{net}",
                "cidr": "fd00:7::/64",
                "ip_version": 6,
                "ipv6_ra_mode": "slaac",
                "ipv6_address_mode": "dhcpv6-stateful",
            }
        },
        400,
        "InvalidInput",
    ),
    (
        "ipv6 mode on ipv4",
        "POST",
        "/v2.0/subnets",
        {"subnet": {"network_id": "{net}", "cidr": "10.8.0.0/24", "ipv6_ra_mode": "slaac"}},
        400,
        "InvalidInput",
    ),
    (
        "slaac needs a /64",
        "POST",
        "/v2.0/subnets",
        {
            "subnet": {
                "network_id": "{net}",
                "cidr": "fd00:7::/80",
                "ip_version": 6,
                "ipv6_address_mode": "slaac",
            }
        },
        400,
        "InvalidInput",
    ),
    (
        "ipv6 modes without dhcp",
        "POST",
        "/v2.0/subnets",
        {
            "subnet": {
                "network_id": "{net}",
                "cidr": "fd00:7::/64",
                "ip_version": 6,
                "ipv6_ra_mode": "dhcpv6-stateless",
                "enable_dhcp": False,
            }
        },
        400,
        "InvalidInput",
    ),
    (
        "unknown ipv6 mode",
        "POST",
        "/v2.0/subnets",
        {
            "subnet": {
                "network_id": "{net}",
                "cidr": "fd00:7::/64",
                "ip_version": 6,
                "ipv6_address_mode": "dhcp",
            }
        },
        400,
        "InvalidInput",
    ),
    (
        "route nexthop not connected",
        "PUT",
        "/v2.0/routers/{router}",
        {"router": {"routes": [{"destination": "10.1.0.0/16", "nexthop": "10.7.0.9"}]}},
        400,
        "InvalidRoutes",
    ),
    (
        "route destination not a cidr",
        "PUT",
        "/v2.0/routers/{router}/add_extraroutes",
        {"router": {"routes": [{"destination": "10.1.0.0/40", "nexthop": "10.7.0.9"}]}},
        400,
        "InvalidRoutes",
    ),
    (
        "remove routes without routes",
        "PUT",
        "/v2.0/routers/{router}/remove_extraroutes",
        {"router": {}},
        400,
        "HTTPBadRequest",
    ),
    ("empty bulk", "POST", "/v2.0/networks", {"networks": []}, 400, "HTTPBadRequest"),
    (
        "bulk with one bad item",
        "POST",
        "/v2.0/ports",
        {"ports": [{"network_id": "{net}"}, {"network_id": "{net}", "mac_address": "zz"}]},
        400,
        "InvalidInput",
    ),
    (
        "bulk over the subnet",
        "POST",
        "/v2.0/subnets",
        {
            "subnets": [
                {"network_id": "{net}", "cidr": "10.8.0.0/24"},
                {"network_id": "{net}", "cidr": "10.8.0.0/25"},
            ]
        },
        400,
        "InvalidInput",
    ),
    ("bad limit", "GET", "/v2.0/networks?limit=x", None, 400, None),
    ("bad marker", "GET", "/v2.0/networks?marker=nope", None, 400, None),
]


def test_bad_requests_fail_cleanly(apis: tuple[Api, Api, Api]) -> None:
    _, alice, _ = apis
    net = alice.ok("POST", "/v2.0/networks", {"network": {"name": "bad"}}, 201)["network"]["id"]
    sub = alice.ok(
        "POST", "/v2.0/subnets", {"subnet": {"network_id": net, "cidr": "10.7.0.0/24"}}, 201
    )["subnet"]["id"]
    alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net}}, 201)
    sg = alice.ok("POST", "/v2.0/security-groups", {"security_group": {"name": "bad"}}, 201)[
        "security_group"
    ]["id"]
    router = alice.ok("POST", "/v2.0/routers", {"router": {"name": "bad"}}, 201)["router"]["id"]
    ids = {"net": net, "sub": sub, "sg": sg, "router": router}

    def snapshot() -> dict[str, Any]:
        return {
            c: alice.ok("GET", f"/v2.0/{c}")[c.replace("-", "_")]
            for c in ("networks", "subnets", "ports", "routers", "security-groups", "floatingips")
        }

    before = snapshot()
    for what, method, template, body, status, kind in BAD:
        path = template.format(**ids)
        payload = _fill(body, ids)
        if payload is None and method == "POST":
            response = alice.client.request(
                method, path, content=b"{not json", headers={"X-Auth-Token": alice.token}
            )
            code, answer = response.status_code, response.json()
        else:
            code, answer = alice(method, path, payload)
        assert code == status, (what, code, answer)
        assert set(answer["NeutronError"]) == {"type", "message", "detail"}, what
        if kind is not None:
            assert answer["NeutronError"]["type"] == kind, (what, answer)
        assert snapshot() == before, f"{what} changed something"


def _fill(body: Any, ids: dict[str, str]) -> Any:
    if isinstance(body, dict):
        return {k: _fill(v, ids) for k, v in body.items()}
    if isinstance(body, list):
        return [_fill(v, ids) for v in body]
    if isinstance(body, str) and body.startswith("{") and body.endswith("}"):
        return ids[body[1:-1]]
    return body


ODD_VALUES: list[Any] = [None, 1, "x", True, [], {}, [1], [{"x": 1}], {"a": 1}, 10**20]
ATTRIBUTES = {
    "networks": ("name", "admin_state_up", "mtu", "provider:segmentation_id", "tags", "tenant_id"),
    "subnets": (
        "cidr",
        "ip_version",
        "gateway_ip",
        "allocation_pools",
        "dns_nameservers",
        "host_routes",
        "enable_dhcp",
    ),
    "ports": (
        "fixed_ips",
        "mac_address",
        "security_groups",
        "allowed_address_pairs",
        "device_owner",
        "port_security_enabled",
    ),
    "routers": ("name", "external_gateway_info", "routes"),
    "floatingips": ("floating_network_id", "port_id", "floating_ip_address", "subnet_id"),
    "security-group-rules": (
        "direction",
        "protocol",
        "port_range_min",
        "remote_ip_prefix",
        "remote_group_id",
    ),
}


def test_odd_values_never_make_a_server_error(apis: tuple[Api, Api, Api]) -> None:
    """Every attribute with values of the wrong shape: a 4xx in Neutron's format."""
    _, alice, _ = apis
    net = alice.ok("POST", "/v2.0/networks", {"network": {"name": "odd"}}, 201)["network"]["id"]
    sg = alice.ok("POST", "/v2.0/security-groups", {"security_group": {"name": "odd"}}, 201)[
        "security_group"
    ]["id"]
    base = {
        "subnets": {"network_id": net, "cidr": "10.77.0.0/24"},
        "ports": {"network_id": net},
        "floatingips": {"floating_network_id": net},
        "security-group-rules": {"security_group_id": sg, "direction": "ingress"},
    }
    singular = {
        "networks": "network",
        "subnets": "subnet",
        "ports": "port",
        "routers": "router",
        "floatingips": "floatingip",
        "security-group-rules": "security_group_rule",
    }
    for collection, attributes in ATTRIBUTES.items():
        for attribute in attributes:
            for value in ODD_VALUES:
                body = {singular[collection]: {**base.get(collection, {}), attribute: value}}
                code, answer = alice("POST", f"/v2.0/{collection}", body)
                assert code < 500, (collection, attribute, value, answer)
                if code >= 400:
                    assert "NeutronError" in answer, (collection, attribute, value, answer)
