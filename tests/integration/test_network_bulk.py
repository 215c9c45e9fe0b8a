"""Neutron's bulk create: the plural key with a list, all items or none.

Through HTTP (the shape clients see) and through the bus on SQLite and
PostgreSQL (one transaction: IPAM invariants hold across the items).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from commands.network.bulk import CreateMany
from commands.network.networks import CreateNetwork, CreateSubnet
from commands.network.ports import CreatePort
from domain.errors import Conflict, InvalidInput
from tests.integration.test_network_http import Api, network_apis
from tests.integration.test_network_world import ALICE, NetWorld, make_world, settings_for

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="module")
def apis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, Api, Api]]:
    yield from network_apis(tmp_path_factory.mktemp("net-bulk"))


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NetWorld]:
    yield from make_world(settings_for(request.param, tmp_path, request))


def _network(api: Api, cidr: str) -> tuple[str, str]:
    net = api.ok("POST", "/v2.0/networks", {"network": {"name": "bulk"}}, 201)["network"]["id"]
    body = {"subnet": {"network_id": net, "cidr": cidr}}
    return net, api.ok("POST", "/v2.0/subnets", body, 201)["subnet"]["id"]


def _ports(api: Api, net: str) -> list[dict[str, Any]]:
    ports: list[dict[str, Any]] = api.ok("GET", f"/v2.0/ports?network_id={net}")["ports"]
    return ports


def test_bulk_ports_answer_the_plural_list_in_order(apis: tuple[Api, Api, Api]) -> None:
    _, alice, _ = apis
    net, sub = _network(alice, "10.50.0.0/24")
    items = [
        {"network_id": net, "name": "first"},
        {"network_id": net, "name": "second", "fixed_ips": [{"ip_address": "10.50.0.77"}]},
        {"network_id": net, "name": "third"},
    ]
    made = alice.ok("POST", "/v2.0/ports", {"ports": items}, 201)["ports"]
    assert [p["name"] for p in made] == ["first", "second", "third"]
    assert made[1]["fixed_ips"] == [{"subnet_id": sub, "ip_address": "10.50.0.77"}]
    addresses = [p["fixed_ips"][0]["ip_address"] for p in made]
    assert len(set(addresses)) == 3
    listed = {p["id"] for p in _ports(alice, net)}
    assert listed == {p["id"] for p in made}


def test_bulk_networks_subnets_and_rules(apis: tuple[Api, Api, Api]) -> None:
    _, alice, _ = apis
    nets = alice.ok(
        "POST", "/v2.0/networks", {"networks": [{"name": "bn-1"}, {"name": "bn-2"}]}, 201
    )["networks"]
    assert [n["name"] for n in nets] == ["bn-1", "bn-2"]
    subnets = alice.ok(
        "POST",
        "/v2.0/subnets",
        {
            "subnets": [
                {"network_id": nets[0]["id"], "cidr": "10.51.0.0/24"},
                {"network_id": nets[0]["id"], "cidr": "fd51::/64", "ip_version": 6},
                {"network_id": nets[1]["id"], "cidr": "10.52.0.0/24"},
            ]
        },
        201,
    )["subnets"]
    assert [s["cidr"] for s in subnets] == ["10.51.0.0/24", "fd51::/64", "10.52.0.0/24"]
    shown = alice.ok("GET", f"/v2.0/networks/{nets[0]['id']}")["network"]
    assert sorted(shown["subnets"]) == sorted(s["id"] for s in subnets[:2])
    group = alice.ok("POST", "/v2.0/security-groups", {"security_group": {"name": "bulk"}}, 201)
    sg = group["security_group"]["id"]
    rules = [
        {"security_group_id": sg, "direction": "ingress", "protocol": "tcp", "port_range_min": p}
        for p in (22, 80, 443)
    ]
    made = alice.ok("POST", "/v2.0/security-group-rules", {"security_group_rules": rules}, 201)
    assert [r["port_range_min"] for r in made["security_group_rules"]] == [22, 80, 443]
    after = alice.ok("GET", f"/v2.0/security-groups/{sg}")["security_group"]
    assert {r["port_range_min"] for r in after["security_group_rules"]} >= {22, 80, 443}


def test_one_bad_item_fails_the_whole_bulk(apis: tuple[Api, Api, Api]) -> None:
    _, alice, _ = apis
    net, _ = _network(alice, "10.53.0.0/24")
    alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net, "name": "holder"}}, 201)
    before = _ports(alice, net)
    taken = before[0]["fixed_ips"][0]["ip_address"]
    cases = [
        # (items, status, Neutron type)
        ([{"network_id": net}, {"network_id": net, "colour": "red"}], 400, "HTTPBadRequest"),
        (
            [{"network_id": net}, {"network_id": net, "fixed_ips": [{"ip_address": taken}]}],
            409,
            "IpAddressAlreadyAllocated",
        ),
        (
            [
                {"network_id": net, "fixed_ips": [{"ip_address": "10.53.0.90"}]},
                {"network_id": net, "fixed_ips": [{"ip_address": "10.53.0.90"}]},
            ],
            409,
            "IpAddressAlreadyAllocated",
        ),
        (
            [
                {"network_id": net, "mac_address": "fa:16:3e:00:53:01"},
                {"network_id": net, "mac_address": "fa:16:3e:00:53:01"},
            ],
            400,
            "MacAddressInUse",
        ),
        ([{"network_id": net}, {"network_id": str(uuid.uuid4())}], 404, "NetworkNotFound"),
    ]
    for items, status, kind in cases:
        code, answer = alice("POST", "/v2.0/ports", {"ports": items})
        assert code == status, (items, answer)
        assert answer["NeutronError"]["type"] == kind, answer
        assert _ports(alice, net) == before, f"{kind} left a port behind"


def test_exhausting_a_subnet_in_bulk_creates_nothing(apis: tuple[Api, Api, Api]) -> None:
    _, alice, _ = apis
    net, _ = _network(alice, "10.54.0.0/29")  # 5 usable addresses after the gateway
    before = _ports(alice, net)
    code, answer = alice("POST", "/v2.0/ports", {"ports": [{"network_id": net}] * 6})
    assert code == 409 and answer["NeutronError"]["type"] == "IpAddressGenerationFailure"
    assert _ports(alice, net) == before
    made = alice.ok("POST", "/v2.0/ports", {"ports": [{"network_id": net}] * 5}, 201)["ports"]
    assert len({p["fixed_ips"][0]["ip_address"] for p in made}) == 5


def test_bulk_counts_against_the_quota_as_a_whole(apis: tuple[Api, Api, Api]) -> None:
    admin, _, bob = apis
    bob_project = bob.ok("POST", "/v2.0/networks", {"network": {"name": "q"}}, 201)["network"][
        "project_id"
    ]
    admin.ok("PUT", f"/v2.0/quotas/{bob_project}", {"quota": {"network": 3}})
    code, answer = bob("POST", "/v2.0/networks", {"networks": [{"name": "a"}, {"name": "b"}, {}]})
    assert code == 409 and answer["NeutronError"]["type"] == "OverQuota"
    assert len(bob.ok("GET", "/v2.0/networks?name=q")["networks"]) == 1
    bob.ok("POST", "/v2.0/networks", {"networks": [{"name": "a"}, {"name": "b"}]}, 201)


@pytest.mark.parametrize(
    "body",
    [
        {"ports": []},
        {"ports": "x"},
        {"ports": [1]},
        {"ports": [{}], "extra": 1},
    ],
)
def test_malformed_bulk_bodies_are_400(apis: tuple[Api, Api, Api], body: Any) -> None:
    _, alice, _ = apis
    code, answer = alice("POST", "/v2.0/ports", body)
    assert code == 400 and "NeutronError" in answer, answer


def test_bulk_through_the_bus_is_one_transaction(world: NetWorld) -> None:
    net = world.run(CreateNetwork(name="n"))["id"]
    world.run(CreateSubnet(network_id=net, cidr="10.60.0.0/28"))
    before = world.store.recorder.max_notification_id()
    outcome = world.run(CreateMany(items=[CreatePort(network_id=net) for _ in range(4)]))
    after = world.store.recorder.max_notification_id()
    assert len(outcome["ids"]) == 4
    docs = [world.doc("ports", i) for i in outcome["ids"]]
    assert len({d["fixed_ips"][0]["ip_address"] for d in docs}) == 4
    assert len({d["mac_address"] for d in docs}) == 4
    assert before is not None and after is not None and after > before
    # 13 addresses in the pools, 4 taken: 10 more cannot all fit.
    with pytest.raises(Conflict):
        world.run(CreateMany(items=[CreatePort(network_id=net) for _ in range(10)]))
    assert world.store.recorder.max_notification_id() == after
    with pytest.raises(InvalidInput):
        world.run(
            CreateMany(
                items=[
                    CreatePort(network_id=net, mac_address="fa:16:3e:00:60:01"),
                    CreatePort(network_id=net, mac_address="fa:16:3e:00:60:01"),
                ]
            ),
            ALICE,
        )
    assert world.store.recorder.max_notification_id() == after
