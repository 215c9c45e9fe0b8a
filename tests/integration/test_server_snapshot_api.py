"""createImage over HTTP (no agent runs here: the snapshots stay pending):
Nova's schema errors, state conflict and metadata quota in Nova's format,
the Location header before 2.45 and the body from 2.45, the queued image in
Glance's read model, and the action in os-instance-actions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from commands.compute.agent import ReportServerActive
from projections.image.queries import ImageQueries
from tests.integration.test_compute_http import ComputeEnv, compute_env, new_name

LATEST = {"OpenStack-API-Version": "compute 2.60"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComputeEnv]:
    yield from compute_env(tmp_path_factory.mktemp("snapshot-api"))


@pytest.fixture(scope="module")
def idle(env: ComputeEnv) -> str:
    """An ACTIVE server the tests that must change nothing share (quota: 10)."""
    return _server(env)


def _flavor(env: ComputeEnv) -> str:
    body = {"name": new_name("f"), "vcpus": 1, "ram": 256, "disk": 1}
    return str(env.admin.api.ok("POST", "/v2.1/flavors", {"flavor": body})["flavor"]["id"])


def _server(env: ComputeEnv, active: bool = True) -> str:
    server = {
        "name": new_name("vm"),
        "imageRef": env.image_id,
        "flavorRef": _flavor(env),
        "networks": [{"uuid": env.network_id}],
    }
    server_id = str(
        env.alice.api.ok("POST", "/v2.1/servers", {"server": server}, 202)["server"]["id"]
    )
    if active:
        report = ReportServerActive(server_id=server_id, hostname="node-1")  # type: ignore[arg-type]
        env.cloud.bus.dispatch(report, env.admin.ctx)
    return server_id


def _post(env: ComputeEnv, server_id: str, body: Any, **headers: str) -> httpx.Response:
    return env.client.post(
        f"/v2.1/servers/{server_id}/action",
        json=body,
        headers={"X-Auth-Token": env.alice.api.token, **headers},
    )


def _task(env: ComputeEnv, server_id: str) -> Any:
    shown = env.alice.api.ok("GET", f"/v2.1/servers/{server_id}", None)["server"]
    return shown["OS-EXT-STS:task_state"], shown["status"]


@pytest.mark.parametrize(
    "args",
    [
        "snap",
        {},
        {"name": ""},
        {"name": " padded"},
        {"name": 7},
        {"name": "x" * 256},
        {"name": "s", "metadata": "m"},
        {"name": "s", "metadata": {"k": 1}},
        {"name": "s", "metadata": {"bad/key": "v"}},
        {"name": "s", "metadata": {"k": "v" * 256}},
        {"name": "s", "colour": "red"},
    ],
)
def test_bad_bodies_are_400_and_change_nothing(env: ComputeEnv, idle: str, args: Any) -> None:
    server_id = idle
    answer = _post(env, server_id, {"createImage": args})
    assert answer.status_code == 400, answer.text
    assert (
        "Invalid input" in answer.json()["badRequest"]["message"]
        or "not allowed" in (answer.json()["badRequest"]["message"])
    )
    assert _task(env, server_id) == (None, "ACTIVE")


def test_a_server_still_building_is_409(env: ComputeEnv) -> None:
    server_id = _server(env, active=False)
    answer = _post(env, server_id, {"createImage": {"name": "snap"}})
    assert answer.status_code == 409
    assert answer.json()["conflictingRequest"]["message"] == (
        f"Cannot 'createImage' instance {server_id} while it is in vm_state building"
    )


def test_image_metadata_over_quota_is_403_before_2_39(env: ComputeEnv, idle: str) -> None:
    server_id = idle
    metadata = {f"k{i}": "v" for i in range(129)}
    answer = _post(env, server_id, {"createImage": {"name": "snap", "metadata": metadata}})
    assert answer.status_code == 403
    assert answer.json()["forbidden"]["message"] == "Image metadata limit exceeded"
    assert _task(env, server_id) == (None, "ACTIVE")


def test_location_header_before_2_45_and_a_body_from_it(env: ComputeEnv) -> None:
    images = ImageQueries(env.cloud.db)
    old = _server(env)
    answer = _post(env, old, {"createImage": {"name": "old-style", "metadata": {"a": "b"}}})
    assert answer.status_code == 202 and not answer.content
    image_id = answer.headers["Location"].rsplit("/", 1)[1]
    image = images.get(image_id)
    assert image is not None and image["status"] == "queued" and image["name"] == "old-style"
    assert image["owner"] == env.alice.project_id and image["visibility"] == "private"
    assert image["properties"]["a"] == "b"
    assert _task(env, old) == ("image_snapshot", "ACTIVE")  # Nova shows it ACTIVE meanwhile

    new = _server(env)
    answer = _post(env, new, {"createImage": {"name": "new-style"}}, **LATEST)
    assert answer.status_code == 202 and "Location" not in answer.headers
    image_id = answer.json()["image_id"]
    image = images.get(image_id)
    assert image is not None and image["properties"]["instance_uuid"] == new

    request_id = answer.headers["X-OpenStack-Request-Id"]
    actions = env.alice.api.ok("GET", f"/v2.1/servers/{new}/os-instance-actions")
    (snapshot,) = [a for a in actions["instanceActions"] if a["action"] == "createImage"]
    assert snapshot["request_id"] == request_id and snapshot["user_id"] == env.alice.user_id
    again = _post(env, new, {"createImage": {"name": "twice"}})
    assert again.status_code == 409
    assert (
        "while it is in task_state image_snapshot" in again.json()["conflictingRequest"]["message"]
    )


def test_another_projects_server_is_404(env: ComputeEnv, idle: str) -> None:
    server_id = idle
    answer = env.client.post(
        f"/v2.1/servers/{server_id}/action",
        json={"createImage": {"name": "mine"}},
        headers={"X-Auth-Token": env.bob.api.token},
    )
    assert answer.status_code == 404 and "itemNotFound" in answer.json()
