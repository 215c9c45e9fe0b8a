"""Server list filters, scheduler hints and security groups through the API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from commands.network.security import CreateSecurityGroup
from tests.integration.test_compute_http import ComputeEnv, compute_env, new_name

V = {"OpenStack-API-Version": "compute 2.60"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComputeEnv]:
    yield from compute_env(tmp_path_factory.mktemp("compute-filters"))


@pytest.fixture(scope="module")
def flavor(env: ComputeEnv) -> str:
    body = {"flavor": {"name": "filters", "vcpus": 1, "ram": 64, "disk": 1}}
    return str(env.admin.api.ok("POST", "/v2.1/flavors", body)["flavor"]["id"])


def _boot(env: ComputeEnv, flavor: str, hints: dict[str, Any] | None = None, **extra: Any) -> str:
    server = {"name": new_name("f"), "imageRef": env.image_id, "flavorRef": flavor, **extra}
    server.setdefault("networks", "none")
    body: dict[str, Any] = {"server": server}
    if hints:
        body["os:scheduler_hints"] = hints
    code, answer = env.alice.api("POST", "/v2.1/servers", body, **V)
    assert code == 202, answer
    return str(answer["server"]["id"])


def _ids(env: ComputeEnv, query: str) -> set[str]:
    return {s["id"] for s in env.alice.api.ok("GET", f"/v2.1/servers?{query}")["servers"]}


def test_tag_and_changes_since_filters(env: ComputeEnv, flavor: str) -> None:
    red = _boot(env, flavor, tags=["red", "big"])
    blue = _boot(env, flavor, tags=["blue"])
    assert _ids(env, "tags=red,big") == {red}
    assert _ids(env, "tags-any=red,blue") == {red, blue}
    assert red not in _ids(env, "not-tags=red")
    assert _ids(env, "tags=red&tags-any=blue") == set()
    time.sleep(1.1)
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    env.alice.api.ok("PUT", f"/v2.1/servers/{blue}", {"server": {"name": "blue-2"}})
    env.alice.api.ok("DELETE", f"/v2.1/servers/{red}", status=204)
    changed = env.alice.api.ok("GET", f"/v2.1/servers/detail?changes-since={since}")["servers"]
    assert {s["id"]: s["status"] for s in changed} == {blue: "BUILD", red: "DELETED"}
    admin = env.admin.api.ok("GET", "/v2.1/servers?all_tenants=1&host=node-1")["servers"]
    assert blue in {s["id"] for s in admin}
    assert env.admin.api.ok("GET", "/v2.1/servers?all_tenants=1&host=elsewhere")["servers"] == []
    env.alice.api.ok("DELETE", f"/v2.1/servers/{blue}", status=204)


def test_scheduler_hints_through_the_api(env: ComputeEnv, flavor: str) -> None:
    first = _boot(env, flavor)
    same = _boot(env, flavor, {"same_host": first})
    different = _boot(env, flavor, {"different_host": [first]})  # only one host: no valid host
    shown = {i: env.alice.api.ok("GET", f"/v2.1/servers/{i}")["server"] for i in (same, different)}
    assert shown[same]["status"] == "BUILD"
    assert shown[different]["status"] == "ERROR"
    assert shown[different]["fault"]["message"].startswith("No valid host was found")
    assert shown[different]["fault"]["code"] == 500
    for server_id in (first, same, different):
        env.alice.api.ok("DELETE", f"/v2.1/servers/{server_id}", status=204)


def test_security_groups_by_name(env: ComputeEnv, flavor: str) -> None:
    group = env.cloud.bus.dispatch(CreateSecurityGroup(name="web"), env.alice.ctx).outcome["id"]
    networks = [{"uuid": env.network_id}]
    server_id = _boot(env, flavor, networks=networks, security_groups=[{"name": "web"}])
    shown = env.alice.api.ok("GET", f"/v2.1/servers/{server_id}")["server"]
    assert shown["security_groups"] == [{"name": "web"}]
    ports = env.cloud.runner.db.query(
        "SELECT body FROM net_ports WHERE device_id = %s", [server_id]
    )
    assert str(group) in ports[0]["body"]
    code, answer = env.alice.api(
        "POST",
        "/v2.1/servers",
        {
            "server": {
                "name": "x",
                "imageRef": env.image_id,
                "flavorRef": flavor,
                "networks": networks,
                "security_groups": [{"name": "nope"}],
            }
        },
        **V,
    )
    assert code == 400 and "Security group nope not found" in answer["badRequest"]["message"]
    env.alice.api.ok("DELETE", f"/v2.1/servers/{server_id}", status=204)


def test_server_metadata(env: ComputeEnv, flavor: str) -> None:
    server_id = _boot(env, flavor, metadata={"a": "1"})
    base = f"/v2.1/servers/{server_id}/metadata"
    api = env.alice.api
    assert api.ok("POST", base, {"metadata": {"b": "2"}}) == {"metadata": {"a": "1", "b": "2"}}
    assert api.ok("PUT", base + "/c", {"meta": {"c": "3"}}) == {"meta": {"c": "3"}}
    assert api.ok("GET", base + "/c") == {"meta": {"c": "3"}}
    api.ok("DELETE", base + "/a", status=204)
    assert api("DELETE", base + "/a")[0] == 404
    assert api.ok("PUT", base, {"metadata": {"z": "9"}}) == {"metadata": {"z": "9"}}
    assert api.ok("GET", f"/v2.1/servers/{server_id}")["server"]["metadata"] == {"z": "9"}
    assert api("POST", base, {"metadata": {"k": 1}})[0] == 400
    api.ok("DELETE", f"/v2.1/servers/{server_id}", status=204)
