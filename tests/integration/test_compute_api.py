"""The compute API over HTTP: version documents and microversions, flavors,
key pairs, servers and their actions, hypervisors, limits and quotas."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from commands.compute.agent import ReportServerActive
from tests.integration.test_compute_http import ComputeEnv, compute_env, new_name
from tests.integration.test_compute_world import ed25519_public_key

V = {"OpenStack-API-Version": "compute 2.60"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComputeEnv]:
    yield from compute_env(tmp_path_factory.mktemp("compute-api"))


def _flavor(env: ComputeEnv, **fields: Any) -> str:
    body = {"name": new_name("f"), "vcpus": 1, "ram": 256, "disk": 1, **fields}
    code, answer = env.admin.api("POST", "/v2.1/flavors", {"flavor": body}, **V)
    assert code == 200, answer
    return str(answer["flavor"]["id"])


def _boot(env: ComputeEnv, flavor: str, **fields: Any) -> dict[str, Any]:
    server = {
        "name": new_name("vm"),
        "imageRef": env.image_id,
        "flavorRef": flavor,
        "networks": [{"uuid": env.network_id}],
        **fields,
    }
    code, answer = env.alice.api("POST", "/v2.1/servers", {"server": server}, **V)
    assert code == 202, answer
    return dict(answer["server"])


def test_versions_and_microversions(env: ComputeEnv) -> None:
    root = env.client.get("/").json()["versions"][0]
    assert (root["id"], root["min_version"], root["version"]) == ("v2.1", "2.1", "2.60")
    assert env.client.get("/v2.1").json()["version"]["status"] == "CURRENT"
    token = {"X-Auth-Token": env.alice.api.token}
    plain = env.client.get("/v2.1/flavors", headers=token)
    assert plain.headers["X-OpenStack-Nova-API-Version"] == "2.1"
    assert "OpenStack-API-Version" in plain.headers["Vary"]
    latest = env.client.get(
        "/v2.1/flavors", headers={**token, "OpenStack-API-Version": "compute latest"}
    )
    assert latest.headers["OpenStack-API-Version"] == "compute 2.60"
    legacy = env.client.get(
        "/v2.1/flavors", headers={**token, "X-OpenStack-Nova-API-Version": "2.26"}
    )
    assert legacy.headers["X-OpenStack-Nova-API-Version"] == "2.26"
    too_new = env.client.get(
        "/v2.1/flavors", headers={**token, "OpenStack-API-Version": "compute 2.99"}
    )
    assert too_new.status_code == 406
    assert "maximum is 2.60" in too_new.json()["computeFault"]["message"]


def test_flavors_access_and_extra_specs(env: ComputeEnv) -> None:
    public = _flavor(env, description="small", id="tiny-" + new_name("x"))
    private = _flavor(env, **{"os-flavor-access:is_public": False})
    alice = env.alice.api
    listed = [f["id"] for f in alice.ok("GET", "/v2.1/flavors")["flavors"]]
    assert public in listed and private not in listed
    assert alice("GET", f"/v2.1/flavors/{private}")[0] == 404
    shown = alice.ok("GET", f"/v2.1/flavors/{public}", None)["flavor"]
    assert "description" not in shown
    assert alice("GET", f"/v2.1/flavors/{public}", **V)[1]["flavor"]["description"] == "small"
    grant = {"addTenantAccess": {"tenant": env.alice.project_id}}
    env.admin.api.ok("POST", f"/v2.1/flavors/{private}/action", grant)
    assert alice("GET", f"/v2.1/flavors/{private}")[0] == 200
    access = env.admin.api.ok("GET", f"/v2.1/flavors/{private}/os-flavor-access")
    assert access["flavor_access"] == [{"flavor_id": private, "tenant_id": env.alice.project_id}]
    specs = {"extra_specs": {"hw:cpu_policy": "shared"}}
    env.admin.api.ok("POST", f"/v2.1/flavors/{public}/os-extra_specs", specs)
    assert alice.ok("GET", f"/v2.1/flavors/{public}/os-extra_specs/hw:cpu_policy") == {
        "hw:cpu_policy": "shared"
    }
    assert alice("POST", f"/v2.1/flavors/{public}/os-extra_specs", specs)[0] == 403
    big = [f["id"] for f in alice.ok("GET", "/v2.1/flavors/detail?minRam=100000")["flavors"]]
    assert big == []
    assert (
        alice("POST", "/v2.1/flavors", {"flavor": {"name": "x", "vcpus": 1, "ram": 1, "disk": 0}})[
            0
        ]
        == 403
    )
    assert env.admin.api("DELETE", f"/v2.1/flavors/{private}")[0] == 202
    assert alice("GET", f"/v2.1/flavors/{private}")[0] == 404


def test_keypairs_import_generate_and_status_codes(env: ComputeEnv) -> None:
    alice = env.alice.api
    key = ed25519_public_key()
    code, answer = alice(
        "POST", "/v2.1/os-keypairs", {"keypair": {"name": "imported", "public_key": key}}
    )
    assert code == 200 and "private_key" not in answer["keypair"]
    fingerprint = answer["keypair"]["fingerprint"]
    assert len(fingerprint.split(":")) == 16
    code, answer = alice("POST", "/v2.1/os-keypairs", {"keypair": {"name": "made"}}, **V)
    assert code == 201 and answer["keypair"]["private_key"].startswith("-----BEGIN RSA")
    assert answer["keypair"]["type"] == "ssh"
    assert alice("POST", "/v2.1/os-keypairs", {"keypair": {"name": "made"}})[0] == 409
    listed = alice.ok("GET", "/v2.1/os-keypairs")["keypairs"]
    assert sorted(k["keypair"]["name"] for k in listed) == ["imported", "made"]
    assert env.bob.api.ok("GET", "/v2.1/os-keypairs")["keypairs"] == []
    shown = alice.ok("GET", "/v2.1/os-keypairs/imported")["keypair"]
    assert shown["user_id"] == env.alice.user_id and shown["public_key"] == key
    assert alice("DELETE", "/v2.1/os-keypairs/made", **V)[0] == 204
    assert alice("GET", "/v2.1/os-keypairs/made")[0] == 404
    bad = {"keypair": {"name": "bad", "public_key": "ssh-rsa not-base64!"}}
    assert alice("POST", "/v2.1/os-keypairs", bad)[0] == 400


def test_server_lifecycle_over_http(env: ComputeEnv) -> None:
    flavor = _flavor(env)
    user_data = base64.b64encode(b"#cloud-config\n").decode()
    created = _boot(env, flavor, user_data=user_data, metadata={"a": "b"}, tags=["web"])
    server_id = created["id"]
    alice = env.alice.api
    shown = alice.ok("GET", f"/v2.1/servers/{server_id}")["server"]
    assert shown["status"] == "BUILD" and shown["flavor"]["id"] == flavor
    assert shown["created"].endswith("Z") and len(shown["created"]) == 20
    assert list(shown["addresses"]) == ["alice-net"]
    assert "OS-EXT-SRV-ATTR:host" not in shown
    code, latest = alice("GET", f"/v2.1/servers/{server_id}", **V)
    assert latest["server"]["flavor"]["vcpus"] == 1 and latest["server"]["tags"] == ["web"]
    admin_view = env.admin.api.ok("GET", f"/v2.1/servers/{server_id}")["server"]
    assert admin_view["OS-EXT-SRV-ATTR:host"] == "node-1"

    code, answer = alice("POST", f"/v2.1/servers/{server_id}/action", {"os-stop": None})
    assert code == 409
    assert "while it is in vm_state building" in answer["conflictingRequest"]["message"]
    env.cloud.bus.dispatch(
        ReportServerActive(server_id=server_id, hostname="node-1"), env.admin.ctx
    )
    active = alice.ok("GET", f"/v2.1/servers/{server_id}")["server"]
    assert active["status"] == "ACTIVE"
    assert "Z" not in active["OS-SRV-USG:launched_at"] and "." in active["OS-SRV-USG:launched_at"]
    assert (
        alice("POST", f"/v2.1/servers/{server_id}/action", {"reboot": {"type": "HARD"}})[0] == 202
    )
    assert alice.ok("GET", f"/v2.1/servers/{server_id}")["server"]["status"] == "HARD_REBOOT"
    console = alice.ok("POST", f"/v2.1/servers/{server_id}/action", {"os-getConsoleOutput": {}})
    assert console == {"output": ""}
    snapshot = {"createImage": {"name": "s"}}  # waits for the reboot to end
    code, answer = alice("POST", f"/v2.1/servers/{server_id}/action", snapshot)
    assert code == 409
    assert "while it is in task_state rebooting_hard" in answer["conflictingRequest"]["message"]
    renamed = alice.ok("PUT", f"/v2.1/servers/{server_id}", {"server": {"name": "renamed"}})
    assert renamed["server"]["name"] == "renamed"
    assert alice("PUT", f"/v2.1/servers/{server_id}/tags/db", **V)[0] == 201
    assert alice("GET", f"/v2.1/servers/{server_id}/tags", **V)[1] == {"tags": ["db", "web"]}
    assert alice("GET", f"/v2.1/servers/{server_id}/tags")[0] == 404  # tags arrived in 2.26
    found = alice.ok("GET", "/v2.1/servers?name=^ren")["servers"]
    assert [s["id"] for s in found] == [server_id]
    assert alice.ok("GET", "/v2.1/servers?status=SHUTOFF")["servers"] == []
    assert env.bob.api.ok("GET", "/v2.1/servers")["servers"] == []
    assert env.bob.api("GET", f"/v2.1/servers/{server_id}")[0] == 404

    actions = alice.ok("GET", f"/v2.1/servers/{server_id}/os-instance-actions")["instanceActions"]
    assert sorted(a["action"] for a in actions) == ["create", "reboot"]
    create = next(a for a in actions if a["action"] == "create")
    assert create["request_id"].startswith("req-") and create["user_id"] == env.alice.user_id
    detail = alice.ok(
        "GET", f"/v2.1/servers/{server_id}/os-instance-actions/{create['request_id']}"
    )
    assert detail["instanceAction"]["events"][0]["result"] == "Success"

    assert alice("DELETE", f"/v2.1/servers/{server_id}")[0] == 204
    assert alice("GET", f"/v2.1/servers/{server_id}")[0] == 404


def test_listing_pages_with_markers(env: ComputeEnv) -> None:
    flavor = _flavor(env)
    ids = [_boot(env, flavor, networks="none")["id"] for _ in range(3)]
    alice = env.alice.api
    first = alice.ok("GET", "/v2.1/servers/detail?limit=2")
    assert len(first["servers"]) == 2 and first["servers_links"][0]["rel"] == "next"
    marker = first["servers"][-1]["id"]
    rest = alice.ok("GET", f"/v2.1/servers/detail?limit=2&marker={marker}")
    seen = [s["id"] for s in first["servers"] + rest["servers"]]
    assert set(ids) <= set(seen) and len(seen) == len(set(seen))
    assert alice("GET", "/v2.1/servers?marker=nope")[0] == 400
    for server_id in ids:
        alice.ok("DELETE", f"/v2.1/servers/{server_id}", status=204)


def test_hypervisors_zones_limits_and_quotas(env: ComputeEnv) -> None:
    admin, alice = env.admin.api, env.alice.api
    hypervisors = admin.ok("GET", "/v2.1/os-hypervisors/detail")["hypervisors"]
    assert hypervisors[0]["hypervisor_hostname"] == "node-1" and hypervisors[0]["id"] == 1
    code, answer = admin("GET", "/v2.1/os-hypervisors", **V)
    assert len(answer["hypervisors"][0]["id"]) == 36
    assert alice("GET", "/v2.1/os-hypervisors")[0] == 403
    assert admin.ok("GET", "/v2.1/os-hypervisors/statistics")["hypervisor_statistics"]["count"] == 1
    zones = alice.ok("GET", "/v2.1/os-availability-zone")["availabilityZoneInfo"]
    assert zones == [{"zoneName": "nova", "zoneState": {"available": True}, "hosts": None}]
    absolute = alice.ok("GET", "/v2.1/limits")["limits"]["absolute"]
    assert absolute["maxTotalInstances"] == 10
    project = env.alice.project_id
    assert alice("PUT", f"/v2.1/os-quota-sets/{project}", {"quota_set": {"instances": 1}})[0] == 403
    admin.ok("PUT", f"/v2.1/os-quota-sets/{project}", {"quota_set": {"instances": 1}})
    assert alice.ok("GET", f"/v2.1/os-quota-sets/{project}")["quota_set"]["instances"] == 1
    flavor = _flavor(env)
    first = _boot(env, flavor, networks="none")
    code, answer = alice(
        "POST",
        "/v2.1/servers",
        {
            "server": {
                "name": "x",
                "imageRef": env.image_id,
                "flavorRef": flavor,
                "networks": "none",
            }
        },
        **V,
    )
    assert code == 403
    assert answer["forbidden"]["message"].startswith("Quota exceeded for instances")
    detail = alice.ok("GET", f"/v2.1/os-quota-sets/{project}/detail")["quota_set"]
    assert detail["instances"] == {"limit": 1, "in_use": 1, "reserved": 0}
    admin.ok("DELETE", f"/v2.1/os-quota-sets/{project}", status=202)
    alice.ok("DELETE", f"/v2.1/servers/{first['id']}", status=204)


def test_auto_network_and_idempotent_create(env: ComputeEnv) -> None:
    flavor = _flavor(env)
    body = {"server": {"name": "auto", "imageRef": env.image_id, "flavorRef": flavor}}
    headers = {**V, "Idempotency-Key": "boot-once"}
    first = env.alice.api(
        "POST", "/v2.1/servers", {"server": {**body["server"], "networks": "auto"}}, **headers
    )
    again = env.alice.api(
        "POST", "/v2.1/servers", {"server": {**body["server"], "networks": "auto"}}, **headers
    )
    assert first[0] == again[0] == 202 and first[1]["server"]["id"] == again[1]["server"]["id"]
    server_id = first[1]["server"]["id"]
    shown = env.alice.api.ok("GET", f"/v2.1/servers/{server_id}")["server"]
    assert list(shown["addresses"]) == ["alice-net"]
    named = [s for s in env.alice.api.ok("GET", "/v2.1/servers?name=^auto$")["servers"]]
    assert len(named) == 1
    code, answer = env.bob.api(
        "POST", "/v2.1/servers", {"server": {**body["server"], "networks": "auto"}}, **V
    )
    assert (
        code == 400
        and "Unable to automatically allocate a network" in answer["badRequest"]["message"]
    )
    env.alice.api.ok("DELETE", f"/v2.1/servers/{server_id}", status=204)
