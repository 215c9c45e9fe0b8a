"""The Neutron API over HTTP: shapes, conventions (filters, fields, pages,
If-Match, tags, quotas) and policy across projects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.test_network_http import Api, network_apis


@pytest.fixture(scope="module")
def apis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, Api, Api]]:
    yield from network_apis(tmp_path_factory.mktemp("net-api"))


def test_discovery(apis: tuple[Api, Api, Api]) -> None:
    admin, _, _ = apis
    code, versions = admin.client.get("/").status_code, admin.client.get("/").json()
    assert code == 200 and versions["versions"][0]["id"] == "v2.0"
    assert versions["versions"][0]["links"][0]["rel"] == "self"
    aliases = {e["alias"] for e in admin.ok("GET", "/v2.0/extensions")["extensions"]}
    assert {"router", "external-net", "security-group", "quotas"} <= aliases
    code, error = admin("GET", "/v2.0/extensions/dvr")
    assert code == 404 and error["NeutronError"]["type"]
    code, error = admin.client.get("/v2.0/networks").status_code, None
    assert code == 401


def test_network_lifecycle_and_conventions(apis: tuple[Api, Api, Api]) -> None:
    _, alice, bob = apis
    made = [
        alice.ok(
            "POST",
            "/v2.0/networks",
            {"network": {"name": f"conv-{i}", "tags": ["t"] if i % 2 else []}},
            201,
        )["network"]
        for i in range(5)
    ]
    net = made[0]
    assert net["tenant_id"] == net["project_id"] and net["revision_number"] == 1
    assert net["status"] == "ACTIVE" and net["router:external"] is False and net["mtu"] == 1450
    listed = alice.ok("GET", "/v2.0/networks?name=conv-1&name=conv-2&fields=name&fields=id")
    assert sorted(n["name"] for n in listed["networks"]) == ["conv-1", "conv-2"]
    assert set(listed["networks"][0]) == {"id", "name"}
    assert len(alice.ok("GET", "/v2.0/networks?tags=t")["networks"]) == 2
    first = alice.ok("GET", "/v2.0/networks?limit=2&sort_key=name&sort_dir=desc")
    assert [n["name"] for n in first["networks"]] == ["conv-4", "conv-3"]
    (link,) = first["networks_links"]
    nxt = alice.ok("GET", link["href"].split("/", 3)[3].join(["/", ""]))
    assert [n["name"] for n in nxt["networks"]] == ["conv-2", "conv-1"]
    seen, path = [], "/v2.0/networks?limit=2&fields=id"
    while path:  # SQL-paged: default order, column filters only
        page = alice.ok("GET", path)
        seen += [n["id"] for n in page["networks"]]
        nxt = [link for link in page.get("networks_links", []) if link["rel"] == "next"]
        path = nxt[0]["href"].split("/", 3)[3].join(["/", ""]) if nxt else ""
    assert seen == sorted(n["id"] for n in made)
    back = alice.ok("GET", f"/v2.0/networks?limit=2&marker={seen[-1]}&page_reverse=True")
    assert [n["id"] for n in back["networks"]] == seen[-3:-1]
    assert {link["rel"] for link in back["networks_links"]} == {"next", "previous"}
    code, error = alice(
        "PUT",
        f"/v2.0/networks/{net['id']}",
        {"network": {"name": "x"}},
        **{"If-Match": "revision_number=7"},
    )
    assert code == 412, error
    renamed = alice.ok("PUT", f"/v2.0/networks/{net['id']}", {"network": {"name": "conv-0b"}})
    assert renamed["network"]["revision_number"] == 2
    assert bob("GET", f"/v2.0/networks/{net['id']}")[0] == 404
    assert bob("PUT", f"/v2.0/networks/{net['id']}", {"network": {"name": "x"}})[0] == 404
    assert alice.ok("PUT", f"/v2.0/networks/{net['id']}/tags", {"tags": ["a", "b"]})["tags"] == [
        "a",
        "b",
    ]
    assert alice("PUT", f"/v2.0/networks/{net['id']}/tags/c")[0] == 201
    assert alice("DELETE", f"/v2.0/networks/{net['id']}/tags/zz")[0] == 404
    assert alice.ok("GET", f"/v2.0/networks/{net['id']}")["network"]["tags"] == ["a", "b", "c"]
    for n in made:
        assert alice("DELETE", f"/v2.0/networks/{n['id']}")[0] == 204


def test_ports_routers_floating_ips(apis: tuple[Api, Api, Api]) -> None:
    admin, alice, _ = apis
    ext = admin.ok(
        "POST", "/v2.0/networks", {"network": {"name": "public", "router:external": True}}, 201
    )["network"]
    admin.ok(
        "POST",
        "/v2.0/subnets",
        {"subnet": {"network_id": ext["id"], "cidr": "198.51.100.0/24", "ip_version": 4}},
        201,
    )
    net = alice.ok("POST", "/v2.0/networks", {"network": {"name": "app"}}, 201)["network"]
    sub = alice.ok(
        "POST",
        "/v2.0/subnets",
        {
            "subnet": {
                "network_id": net["id"],
                "cidr": "10.5.0.0/24",
                "ip_version": 4,
                "dns_nameservers": ["8.8.8.8"],
            }
        },
        201,
    )["subnet"]
    port = alice.ok(
        "POST", "/v2.0/ports", {"port": {"network_id": net["id"], "device_id": "vm-9"}}, 201
    )["port"]
    assert port["status"] == "DOWN"
    assert [p["id"] for p in alice.ok("GET", "/v2.0/ports?device_id=vm-9")["ports"]] == [port["id"]]
    by_ip = alice.ok(
        "GET", f"/v2.0/ports?fixed_ips=ip_address%3D{port['fixed_ips'][0]['ip_address']}"
    )
    assert [p["id"] for p in by_ip["ports"]] == [port["id"]]
    router = alice.ok(
        "POST",
        "/v2.0/routers",
        {
            "router": {
                "name": "r",
                "external_gateway_info": {"network_id": ext["id"], "enable_snat": False},
            }
        },
        201,
    )["router"]
    assert router["external_gateway_info"]["enable_snat"] is False
    body = alice.ok(
        "PUT", f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]}
    )
    assert body["subnet_id"] == sub["id"] and body["id"] == router["id"] and body["port_id"]
    fip = alice.ok(
        "POST",
        "/v2.0/floatingips",
        {"floatingip": {"floating_network_id": ext["id"], "port_id": port["id"]}},
        201,
    )["floatingip"]
    assert (
        fip["router_id"] == router["id"]
        and fip["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"]
    )
    code, error = alice("DELETE", f"/v2.0/networks/{net['id']}")
    assert (code, error["NeutronError"]["type"]) == (409, "NetworkInUse")
    code, error = alice(
        "PUT", f"/v2.0/routers/{router['id']}/remove_router_interface", {"subnet_id": sub["id"]}
    )
    assert (code, error["NeutronError"]["type"]) == (409, "RouterInterfaceInUseByFloatingIP")
    code, error = alice(
        "PUT", f"/v2.0/routers/{router['id']}", {"router": {"external_gateway_info": {}}}
    )
    assert (code, error["NeutronError"]["type"]) == (409, "RouterExternalGatewayInUseByFloatingIp")
    assert "binding:host_id" not in port and "provider:segmentation_id" not in net
    code, error = alice("DELETE", f"/v2.0/ports/{body['port_id']}")
    assert code == 409
    assert alice("DELETE", f"/v2.0/ports/{port['id']}")[0] == 204
    assert alice.ok("GET", f"/v2.0/floatingips/{fip['id']}")["floatingip"]["port_id"] is None
    alice.ok(
        "PUT", f"/v2.0/routers/{router['id']}/remove_router_interface", {"subnet_id": sub["id"]}
    )
    for path in (f"floatingips/{fip['id']}", f"routers/{router['id']}", f"networks/{net['id']}"):
        assert alice("DELETE", f"/v2.0/{path}")[0] == 204


def test_security_groups_and_quotas(apis: tuple[Api, Api, Api]) -> None:
    admin, alice, bob = apis
    groups = alice.ok("GET", "/v2.0/security-groups")["security_groups"]
    assert [g["name"] for g in groups] == ["default"]
    group = alice.ok("POST", "/v2.0/security-groups", {"security_group": {"name": "web"}}, 201)[
        "security_group"
    ]
    rule = {
        "security_group_id": group["id"],
        "direction": "ingress",
        "protocol": "tcp",
        "port_range_min": 22,
        "port_range_max": 22,
        "remote_ip_prefix": "0.0.0.0/0",
    }
    made = alice.ok("POST", "/v2.0/security-group-rules", {"security_group_rule": rule}, 201)
    assert made["security_group_rule"]["ethertype"] == "IPv4"
    assert alice("POST", "/v2.0/security-group-rules", {"security_group_rule": rule})[0] == 409
    assert (
        alice("DELETE", f"/v2.0/security-group-rules/{made['security_group_rule']['id']}")[0] == 204
    )
    project = alice.ok("GET", "/v2.0/networks?fields=id")  # the caller's project from a token
    del project
    me = groups[0]["project_id"]
    assert bob("GET", f"/v2.0/quotas/{me}")[0] == 403
    admin.ok("PUT", f"/v2.0/quotas/{me}", {"quota": {"network": 1}})
    assert alice.ok("GET", f"/v2.0/quotas/{me}")["quota"]["network"] == 1
    alice.ok("POST", "/v2.0/networks", {"network": {"name": "q1"}}, 201)
    code, error = alice("POST", "/v2.0/networks", {"network": {"name": "q2"}})
    assert (code, error["NeutronError"]["type"]) == (409, "OverQuota")
    details = alice.ok("GET", f"/v2.0/quotas/{me}/details")["quota"]["network"]
    assert details == {"limit": 1, "used": 1, "reserved": 0}
    assert admin("DELETE", f"/v2.0/quotas/{me}")[0] == 204
    assert alice.ok("GET", f"/v2.0/quotas/{me}")["quota"]["network"] == 100
