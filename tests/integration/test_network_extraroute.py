"""Routers' extra routes (`extraroute`, `extraroute-atomic`) and If-Match on
every write, through HTTP and through the bus on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from commands.network.extra_routes import AddExtraRoutes, RemoveExtraRoutes
from commands.network.networks import CreateNetwork, CreateSubnet
from commands.network.routers import (
    AddRouterInterface,
    CreateRouter,
    RemoveRouterInterface,
    UpdateRouter,
)
from domain.errors import Conflict, InvalidInput
from domain.network.errors import PreconditionFailed
from projections.network.queries import host_state
from tests.integration.test_network_http import Api, network_apis
from tests.integration.test_network_world import NetWorld, make_world, settings_for

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="module")
def apis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, Api, Api]]:
    yield from network_apis(tmp_path_factory.mktemp("net-routes"))


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NetWorld]:
    yield from make_world(settings_for(request.param, tmp_path, request))


def _routed(api: Api, cidr: str) -> tuple[str, str]:
    """A router with an interface on a new subnet `cidr`: (router, subnet)."""
    net = api.ok("POST", "/v2.0/networks", {"network": {"name": "r"}}, 201)["network"]["id"]
    sub = api.ok("POST", "/v2.0/subnets", {"subnet": {"network_id": net, "cidr": cidr}}, 201)[
        "subnet"
    ]["id"]
    router = api.ok("POST", "/v2.0/routers", {"router": {"name": "r"}}, 201)["router"]["id"]
    api.ok("PUT", f"/v2.0/routers/{router}/add_router_interface", {"subnet_id": sub})
    return router, sub


def _route(destination: str, nexthop: str) -> dict[str, str]:
    return {"destination": destination, "nexthop": nexthop}


def test_extensions_are_advertised(apis: tuple[Api, Api, Api]) -> None:
    admin, _, _ = apis
    aliases = {e["alias"] for e in admin.ok("GET", "/v2.0/extensions")["extensions"]}
    assert {"extraroute", "extraroute-atomic", "revision-if-match"} <= aliases
    assert "bulk" not in aliases  # Neutron reports bulk as native_bulk_support, not an alias


def test_routes_replaced_by_put_and_shown(apis: tuple[Api, Api, Api]) -> None:
    _, alice, _ = apis
    router, _ = _routed(alice, "10.70.0.0/24")
    routes = [_route("192.168.10.0/24", "10.70.0.5"), _route("192.168.11.0/24", "10.70.0.6")]
    shown = alice.ok("PUT", f"/v2.0/routers/{router}", {"router": {"routes": routes}})["router"]
    assert shown["routes"] == routes
    assert alice.ok("GET", f"/v2.0/routers/{router}")["router"]["routes"] == routes
    shown = alice.ok("PUT", f"/v2.0/routers/{router}", {"router": {"routes": []}})["router"]
    assert shown["routes"] == []


def test_atomic_add_and_remove(apis: tuple[Api, Api, Api]) -> None:
    _, alice, _ = apis
    router, _ = _routed(alice, "10.71.0.0/24")
    first = [_route("192.168.1.0/24", "10.71.0.5")]
    url = f"/v2.0/routers/{router}"
    body = alice.ok("PUT", url + "/add_extraroutes", {"router": {"routes": first}})
    assert body["router"]["routes"] == first and body["router"]["id"] == router
    more = [_route("192.168.1.0/24", "10.71.0.5"), _route("192.168.2.0/24", "10.71.0.6")]
    body = alice.ok("PUT", url + "/add_extraroutes", {"router": {"routes": more}})
    assert body["router"]["routes"] == more  # the duplicate merged, not repeated
    gone = [_route("192.168.1.0/24", "10.71.0.5"), _route("10.99.0.0/16", "10.71.0.9")]
    body = alice.ok("PUT", url + "/remove_extraroutes", {"router": {"routes": gone}})
    assert body["router"]["routes"] == [_route("192.168.2.0/24", "10.71.0.6")]


def test_invalid_routes_are_400_and_change_nothing(apis: tuple[Api, Api, Api]) -> None:
    _, alice, _ = apis
    router, _ = _routed(alice, "10.72.0.0/24")
    url = f"/v2.0/routers/{router}"
    kept = [_route("192.168.3.0/24", "10.72.0.5")]
    alice.ok("PUT", url, {"router": {"routes": kept}})
    before = alice.ok("GET", url)["router"]
    bad: list[Any] = [
        [_route("192.168.4.0/24", "10.99.0.1")],  # nexthop not on any interface subnet
        [_route("192.168.4.0/24", "10.72.0.1")],  # the router's own address
        [_route("192.168.4.0/33", "10.72.0.5")],
        [_route("not-a-cidr", "10.72.0.5")],
        [_route("192.168.4.0/24", "nope")],
        [_route("fd00::/64", "10.72.0.5")],
        [{"destination": "192.168.4.0/24"}],
        [1],
    ]
    for routes in bad:
        for method, path in (("PUT", url), ("PUT", url + "/add_extraroutes")):
            code, answer = alice(method, path, {"router": {"routes": routes}})
            assert code == 400, (routes, answer)
            assert answer["NeutronError"]["type"] == "InvalidRoutes", answer
            assert "Invalid format for routes" in answer["NeutronError"]["message"]
    code, answer = alice("PUT", url, {"router": {"routes": "x"}})
    assert code == 400, answer
    too_many = [_route(f"192.168.{i}.0/24", "10.72.0.5") for i in range(31)]
    code, answer = alice("PUT", url, {"router": {"routes": too_many}})
    assert code == 400 and answer["NeutronError"]["type"] == "RoutesExhausted", answer
    code, answer = alice("PUT", url + "/add_extraroutes", {"router": {"colour": []}})
    assert code == 400, answer
    assert alice.ok("GET", url)["router"] == before


def test_interface_needed_by_a_route_stays(apis: tuple[Api, Api, Api]) -> None:
    _, alice, _ = apis
    router, sub = _routed(alice, "10.73.0.0/24")
    url = f"/v2.0/routers/{router}"
    alice.ok("PUT", url, {"router": {"routes": [_route("192.168.5.0/24", "10.73.0.5")]}})
    code, answer = alice("PUT", url + "/remove_router_interface", {"subnet_id": sub})
    assert code == 409 and answer["NeutronError"]["type"] == "RouterInterfaceInUseByRoute"
    alice.ok(
        "PUT",
        url + "/remove_extraroutes",
        {"router": {"routes": [_route("192.168.5.0/24", "10.73.0.5")]}},
    )
    alice.ok("PUT", url + "/remove_router_interface", {"subnet_id": sub})


def test_other_projects_router_is_not_found(apis: tuple[Api, Api, Api]) -> None:
    _, alice, bob = apis
    router, _ = _routed(alice, "10.74.0.0/24")
    routes = {"router": {"routes": [_route("192.168.6.0/24", "10.74.0.5")]}}
    code, answer = bob("PUT", f"/v2.0/routers/{router}/add_extraroutes", routes)
    assert code == 404 and answer["NeutronError"]["type"] == "RouterNotFound", answer


def test_if_match_on_delete_and_put_for_every_collection(apis: tuple[Api, Api, Api]) -> None:
    _, alice, _ = apis
    net = alice.ok("POST", "/v2.0/networks", {"network": {"name": "im"}}, 201)["network"]
    sub = alice.ok(
        "POST", "/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.75.0.0/24"}}, 201
    )["subnet"]
    port = alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"]}}, 201)["port"]
    router = alice.ok("POST", "/v2.0/routers", {"router": {"name": "im"}}, 201)["router"]
    group = alice.ok("POST", "/v2.0/security-groups", {"security_group": {"name": "im"}}, 201)[
        "security_group"
    ]
    rule = alice.ok(
        "POST",
        "/v2.0/security-group-rules",
        {"security_group_rule": {"security_group_id": group["id"], "direction": "ingress"}},
        201,
    )["security_group_rule"]
    # Deleting in an order that frees each one: port, subnet, network, ...
    for collection, key, doc in (
        ("ports", "port", port),
        ("subnets", "subnet", sub),
        ("networks", "network", net),
        ("routers", "router", router),
        ("security-group-rules", "security_group_rule", rule),
        ("security-groups", "security_group", group),
    ):
        url = f"/v2.0/{collection}/{doc['id']}"
        current = alice.ok("GET", url)[key]["revision_number"]
        if collection != "security-group-rules":
            stale = {"If-Match": f"revision_number={current + 5}"}
            code, answer = alice("PUT", url, {key: {"description": "x"}}, **stale)
            assert code == 412 and answer["NeutronError"]["type"] == "PreconditionFailed"
        code, answer = alice("DELETE", url, **{"If-Match": f"revision_number={current + 1}"})
        assert code == 412, (collection, answer)
        assert answer["NeutronError"]["type"] == "PreconditionFailed"
        alice.ok("GET", url)  # still there
        code, answer = alice("DELETE", url, **{"If-Match": "revision_number=x"})
        assert code == 400, answer
        code, _ = alice("DELETE", url, **{"If-Match": f"revision_number={current}"})
        assert code == 204, collection
        code, _ = alice("GET", url)
        assert code == 404


def test_extra_routes_through_the_bus(world: NetWorld) -> None:
    net = world.run(CreateNetwork(name="n"))["id"]
    sub = world.run(CreateSubnet(network_id=net, cidr="10.80.0.0/24"))["id"]
    router = world.run(CreateRouter(name="r"))["id"]
    world.run(AddRouterInterface(router_id=router, subnet_id=sub))
    route = {"destination": "172.16.0.0/16", "nexthop": "10.80.0.20"}
    revision = world.doc("routers", router)["revision_number"]
    with pytest.raises(PreconditionFailed):
        world.run(AddExtraRoutes(router_id=router, routes=[route], expected_revision=revision + 1))
    world.run(AddExtraRoutes(router_id=router, routes=[route], expected_revision=revision))
    assert world.doc("routers", router)["routes"] == [route]
    state = host_state(world.db, "h", all_routers=True)
    assert state["routers"][0]["routes"] == [route]
    with pytest.raises(InvalidInput):
        world.run(UpdateRouter(router_id=router, routes=[{**route, "nexthop": "10.81.0.1"}]))
    with pytest.raises(Conflict):
        world.run(RemoveRouterInterface(router_id=router, subnet_id=sub))
    world.run(RemoveExtraRoutes(router_id=router, routes=[route]))
    assert world.doc("routers", router)["routes"] == []
    world.run(RemoveRouterInterface(router_id=router, subnet_id=sub))
    with pytest.raises(InvalidInput):  # nothing connected: no nexthop is valid
        world.run(AddExtraRoutes(router_id=router, routes=[route]))
