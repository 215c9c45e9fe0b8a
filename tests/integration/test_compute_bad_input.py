"""A table of bad server requests: each gets Nova's status and error format,
never a 500, and leaves no server, port or claim behind."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_compute_http import ComputeEnv, active_image, compute_env

V237 = {"OpenStack-API-Version": "compute 2.37"}
MISSING = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComputeEnv]:
    yield from compute_env(tmp_path_factory.mktemp("compute-bad"))


@pytest.fixture(scope="module")
def refs(env: ComputeEnv) -> dict[str, str]:
    code, answer = env.admin.api(
        "POST", "/v2.1/flavors", {"flavor": {"name": "bad-tiny", "vcpus": 1, "ram": 64, "disk": 1}}
    )
    assert code == 200, answer
    code, answer = env.admin.api(
        "POST", "/v2.1/flavors", {"flavor": {"name": "bad-huge", "vcpus": 64, "ram": 64, "disk": 1}}
    )
    assert code == 200, answer
    big_image = active_image(env.cloud, env.admin.ctx, size=5 * 1024**3)
    return {
        "tiny": _flavor_id(env, "bad-tiny"),
        "huge": _flavor_id(env, "bad-huge"),
        "big_image": big_image,
    }


def _flavor_id(env: ComputeEnv, name: str) -> str:
    flavors = env.admin.api.ok("GET", "/v2.1/flavors")["flavors"]
    return str(next(f["id"] for f in flavors if f["name"] == name))


def _server(env: ComputeEnv, refs: dict[str, str], **changes: Any) -> dict[str, Any]:
    server: dict[str, Any] = {
        "name": "bad",
        "imageRef": env.image_id,
        "flavorRef": refs["tiny"],
        "networks": "none",
    }
    server.update(changes)
    return {k: v for k, v in server.items() if v is not None}


BAD = [
    # (what, server fields, headers, status, fault key, message fragment)
    ("unknown image", {"imageRef": MISSING}, V237, 400, "badRequest", "could not be found"),
    ("unknown flavor", {"flavorRef": "nope"}, V237, 400, "badRequest", "Flavor nope could not"),
    (
        "unknown network",
        {"networks": [{"uuid": MISSING}]},
        V237,
        400,
        "badRequest",
        f"Network {MISSING} could not be found.",
    ),
    ("bad network uuid", {"networks": [{"uuid": "x"}]}, V237, 400, "badRequest", "Bad networks"),
    ("unknown key pair", {"key_name": "nokey"}, V237, 400, "badRequest", "Invalid key_name"),
    ("image too big", {"imageRef": "{big_image}"}, V237, 400, "badRequest", "too small"),
    ("bad user_data", {"user_data": "%%%"}, V237, 400, "badRequest", "valid base 64"),
    ("networks required", {"networks": None}, V237, 400, "badRequest", "networks"),
    ("no such zone", {"availability_zone": "mars"}, V237, 400, "badRequest", "availability zone"),
    ("no image", {"imageRef": None}, V237, 400, "badRequest", "imageRef"),
    ("bad count", {"min_count": 0}, V237, 400, "badRequest", "min_count"),
    (
        "over the core quota",
        {"flavorRef": "{huge}"},
        V237,
        403,
        "forbidden",
        "Quota exceeded for cores",
    ),
    (
        "too many metadata items",
        {"metadata": {f"k{i}": "v" for i in range(129)}},
        V237,
        403,
        "forbidden",
        "Maximum number of metadata items exceeds 128",
    ),
    ("metadata not strings", {"metadata": {"k": 1}}, V237, 400, "badRequest", "metadata"),
    (
        "unsupported microversion",
        {},
        {"OpenStack-API-Version": "compute 3.0"},
        406,
        "computeFault",
        "not supported",
    ),
    (
        "malformed microversion",
        {},
        {"X-OpenStack-Nova-API-Version": "two"},
        400,
        "badRequest",
        "invalid format",
    ),
]


@pytest.mark.parametrize(
    ("fields", "headers", "status", "fault", "fragment"),
    [pytest.param(*row[1:], id=row[0]) for row in BAD],
)
def test_bad_server_request(
    env: ComputeEnv,
    refs: dict[str, str],
    fields: dict[str, Any],
    headers: dict[str, str],
    status: int,
    fault: str,
    fragment: str,
) -> None:
    before = env.cloud.store.max_notification_id()
    resolved = {k: v.format(**refs) if isinstance(v, str) else v for k, v in fields.items()}
    body = {"server": _server(env, refs, **resolved)}
    if "networks" in fields and fields["networks"] is None:
        body["server"].pop("networks", None)
    code, answer = env.alice.api("POST", "/v2.1/servers", body, **headers)
    assert code == status, answer
    assert fragment in answer[fault]["message"], answer
    assert env.cloud.store.max_notification_id() == before, "a bad request wrote events"


def test_actions_in_the_wrong_state_and_unknown_servers(
    env: ComputeEnv, refs: dict[str, str]
) -> None:
    api = env.alice.api
    code, answer = api("POST", "/v2.1/servers", {"server": _server(env, refs)}, **V237)
    assert code == 202, answer
    server_id = answer["server"]["id"]
    for action, body in (("os-start", None), ("os-stop", None), ("reboot", {"type": "SOFT"})):
        code, answer = api("POST", f"/v2.1/servers/{server_id}/action", {action: body})
        assert code == 409, answer
        assert "vm_state building" in answer["conflictingRequest"]["message"]
    code, answer = api("POST", f"/v2.1/servers/{server_id}/action", {"reboot": {"type": "x"}})
    assert code == 400 and "badRequest" in answer
    code, answer = api("POST", f"/v2.1/servers/{server_id}/action", {"fly": {}})
    assert code == 400 and "no such action" in answer["badRequest"]["message"]
    code, answer = api("GET", f"/v2.1/servers/{MISSING}")
    assert code == 404 and "itemNotFound" in answer
    assert api("DELETE", f"/v2.1/servers/{MISSING}")[0] == 404
    assert (
        api("GET", "/v2.1/servers?status=SLEEPING", **{"OpenStack-API-Version": "compute 2.38"})[0]
        == 400
    )
    assert api("DELETE", f"/v2.1/servers/{server_id}")[0] == 204
