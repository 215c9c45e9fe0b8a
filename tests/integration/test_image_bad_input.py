"""A table of bad image requests: each gets Glance's status and error body,
never a 500, and none leaves a half-made image or a stray file behind."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_image_world import BACKENDS, ImageWorld, module_world

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
DATA = {"Content-Type": "application/octet-stream"}
UNKNOWN = str(uuid.uuid4())
LONG = "t" * 300

# (who, method, path, body, headers, status, message fragment)
# Paths name fixtures: {active} alice's active image, {queued} her queued one,
# {protected} a protected one, {bare} one without formats, {public} admin's
# public image, {private} her private one, {shared} her image shared with bob.
CASES: list[tuple[str, str, str, Any, dict[str, str], int, str]] = [
    ("alice", "GET", f"/v2/images/{UNKNOWN}", None, {}, 404, "No image found"),
    ("alice", "GET", "/v2/images/not-a-uuid", None, {}, 404, "No image found"),
    ("bob", "GET", "/v2/images/{private}", None, {}, 404, "No image found"),
    ("alice", "POST", "/v2/images", {"disk_format": "floppy"}, {}, 400, "disk_format"),
    ("alice", "POST", "/v2/images", {"container_format": "zip"}, {}, 400, "container_format"),
    ("alice", "POST", "/v2/images", {"visibility": "secret"}, {}, 400, "visibility"),
    ("alice", "POST", "/v2/images", {"visibility": "public"}, {}, 403, "publicize_image"),
    ("alice", "POST", "/v2/images", {"status": "active"}, {}, 403, "'status' is read-only"),
    ("alice", "POST", "/v2/images", {"self": "x"}, {}, 403, "read-only"),
    ("alice", "POST", "/v2/images", {"checksum": "x"}, {}, 403, "read-only"),
    ("alice", "POST", "/v2/images", {"deleted": "x"}, {}, 403, "'deleted' is reserved"),
    ("alice", "POST", "/v2/images", {"location": "x"}, {}, 403, "reserved"),
    ("alice", "POST", "/v2/images", {"min_ram": "big"}, {}, 400, "integer"),
    ("alice", "POST", "/v2/images", {"min_disk": -1}, {}, 400, "range"),
    ("alice", "POST", "/v2/images", {"protected": "yes"}, {}, 400, "boolean"),
    ("alice", "POST", "/v2/images", {"name": 5}, {}, 400, "string"),
    ("alice", "POST", "/v2/images", {"name": LONG}, {}, 400, "longer"),
    ("alice", "POST", "/v2/images", {"foo": 5}, {}, 400, "string"),
    ("alice", "POST", "/v2/images", {"kernel_id": "nope"}, {}, 400, "UUID"),
    ("alice", "POST", "/v2/images", {"id": "nope"}, {}, 400, "UUID"),
    ("alice", "POST", "/v2/images", {"id": "{active}"}, {}, 409, "already exists"),
    ("alice", "POST", "/v2/images", {"tags": "x"}, {}, 400, "array"),
    ("alice", "POST", "/v2/images", {"tags": [LONG]}, {}, 400, "Tag"),
    ("alice", "POST", "/v2/images", {"owner": "someone-else"}, {}, 403, "another project"),
    ("alice", "POST", "/v2/images", [1], {}, 400, "Body expected"),
    ("alice", "POST", "/v2/images", None, {}, 400, "Body expected"),
    (
        "alice",
        "PATCH",
        "/v2/images/{queued}",
        [{"op": "replace", "path": "/status", "value": "active"}],
        PATCH,
        403,
        "read-only",
    ),
    (
        "alice",
        "PATCH",
        "/v2/images/{queued}",
        [{"op": "add", "path": "/checksum", "value": "x"}],
        PATCH,
        403,
        "read-only",
    ),
    (
        "alice",
        "PATCH",
        "/v2/images/{queued}",
        [{"op": "add", "path": "/id", "value": UNKNOWN}],
        PATCH,
        403,
        "read-only",
    ),
    (
        "alice",
        "PATCH",
        "/v2/images/{queued}",
        [{"op": "add", "path": "/deleted", "value": "x"}],
        PATCH,
        403,
        "reserved",
    ),
    (
        "alice",
        "PATCH",
        "/v2/images/{queued}",
        [{"op": "remove", "path": "/name"}],
        PATCH,
        403,
        "may not be removed",
    ),
    (
        "alice",
        "PATCH",
        "/v2/images/{queued}",
        [{"op": "remove", "path": "/nothing"}],
        PATCH,
        409,
        "does not exist",
    ),
    (
        "alice",
        "PATCH",
        "/v2/images/{queued}",
        [{"op": "move", "path": "/name", "from": "/x"}],
        PATCH,
        400,
        "Invalid operation",
    ),
    (
        "alice",
        "PATCH",
        "/v2/images/{queued}",
        [{"op": "add", "path": "/name"}],
        PATCH,
        400,
        "value",
    ),
    (
        "alice",
        "PATCH",
        "/v2/images/{queued}",
        [{"op": "add", "path": "name", "value": "x"}],
        PATCH,
        400,
        "Pointer",
    ),
    (
        "alice",
        "PATCH",
        "/v2/images/{queued}",
        [{"op": "add", "path": "/a/b", "value": "x"}],
        PATCH,
        400,
        "JSON pointer",
    ),
    (
        "alice",
        "PATCH",
        "/v2/images/{queued}",
        [{"op": "add", "path": "/locations/-", "value": {}}],
        PATCH,
        403,
        "locations",
    ),
    (
        "alice",
        "PATCH",
        "/v2/images/{queued}",
        [{"op": "add", "path": "/visibility", "value": "public"}],
        PATCH,
        403,
        "publicize",
    ),
    (
        "alice",
        "PATCH",
        "/v2/images/{queued}",
        [{"op": "add", "path": "/min_ram", "value": "lots"}],
        PATCH,
        400,
        "integer",
    ),
    (
        "alice",
        "PATCH",
        "/v2/images/{queued}",
        [{"op": "add", "path": "/x", "value": 1}],
        PATCH,
        400,
        "string",
    ),
    ("alice", "PATCH", "/v2/images/{queued}", {"op": "add"}, PATCH, 400, "array"),
    (
        "alice",
        "PATCH",
        "/v2/images/{queued}",
        [],
        {"Content-Type": "application/json"},
        415,
        "Unsupported Content-Type",
    ),
    (
        "alice",
        "PATCH",
        "/v2/images/{active}",
        [{"op": "replace", "path": "/disk_format", "value": "qcow2"}],
        PATCH,
        403,
        "queued image",
    ),
    (
        "bob",
        "PATCH",
        "/v2/images/{public}",
        [{"op": "replace", "path": "/name", "value": "x"}],
        PATCH,
        403,
        "not authorized",
    ),
    ("alice", "PUT", "/v2/images/{active}/file", b"x", DATA, 409, "active to saving"),
    (
        "alice",
        "PUT",
        "/v2/images/{queued}/file",
        b"x",
        {"Content-Type": "text/plain"},
        415,
        "Unsupported",
    ),
    ("alice", "PUT", "/v2/images/{bare}/file", b"x", DATA, 400, "disk_format, container_format"),
    ("alice", "PUT", f"/v2/images/{UNKNOWN}/file", b"x", DATA, 404, "No image found"),
    ("bob", "PUT", "/v2/images/{public}/file", b"x", DATA, 403, "not authorized"),
    ("alice", "DELETE", "/v2/images/{protected}", None, {}, 403, "protected"),
    ("alice", "DELETE", f"/v2/images/{UNKNOWN}", None, {}, 404, "No image found"),
    ("bob", "DELETE", "/v2/images/{public}", None, {}, 403, "not authorized"),
    ("alice", "POST", "/v2/images/{queued}/actions/deactivate", None, {}, 403, "status 'queued'"),
    ("alice", "POST", "/v2/images/{queued}/actions/reactivate", None, {}, 403, "status 'queued'"),
    (
        "alice",
        "POST",
        "/v2/images/{private}/members",
        {"member": "p"},
        {},
        403,
        "Only shared images",
    ),
    ("alice", "POST", "/v2/images/{shared}/members", {}, {}, 400, "not specified"),
    (
        "alice",
        "POST",
        "/v2/images/{shared}/members",
        {"member": "{bob}"},
        {},
        409,
        "already associated",
    ),
    ("alice", "GET", "/v2/images/{shared}/members/nobody", None, {}, 404, "not found"),
    (
        "bob",
        "PUT",
        "/v2/images/{shared}/members/{bob}",
        {"status": "maybe"},
        {},
        400,
        "Status must be",
    ),
    ("bob", "PUT", "/v2/images/{shared}/members/{bob}", {}, {}, 400, "Status not specified"),
    ("alice", "DELETE", "/v2/images/{shared}/members/nobody", None, {}, 404, "member"),
    ("bob", "DELETE", "/v2/images/{shared}/members/{bob}", None, {}, 403, "not authorized"),
    ("alice", "DELETE", "/v2/images/{queued}/tags/nope", None, {}, 404, "tag"),
    ("alice", "PUT", "/v2/images/{queued}/tags/" + LONG, None, {}, 400, "Tag"),
    ("alice", "GET", "/v2/images?sort_key=colour", None, {}, 400, "Invalid sort key"),
    ("alice", "GET", "/v2/images?sort_dir=up", None, {}, 400, "Invalid sort direction"),
    ("alice", "GET", "/v2/images?sort=name:up", None, {}, 400, "Invalid sort direction"),
    ("alice", "GET", "/v2/images?sort=name&sort_key=name", None, {}, 400, "cannot be used"),
    ("alice", "GET", "/v2/images?limit=-1", None, {}, 400, "positive"),
    ("alice", "GET", "/v2/images?limit=many", None, {}, 400, "integer"),
    ("alice", "GET", "/v2/images?visibility=secret", None, {}, 400, "Invalid visibility"),
    ("alice", "GET", "/v2/images?member_status=maybe", None, {}, 400, "Invalid status"),
    ("alice", "GET", "/v2/images?size_min=big", None, {}, 400, "non-numeric"),
    ("alice", "GET", "/v2/images?protected=maybe", None, {}, 400, "'true' or 'false'"),
    ("alice", "GET", "/v2/images?name=gt:x", None, {}, 400, "unknown operator"),
    ("alice", "GET", "/v2/images?created_at=gt:yesterday", None, {}, 400, "ISO 8601"),
    ("alice", "GET", f"/v2/images?marker={UNKNOWN}", None, {}, 400, "No image found"),
    ("anonymous", "GET", "/v2/images", None, {}, 401, ""),
    ("alice", "GET", "/v2/nothing", None, {}, 404, "could not be found"),
    ("alice", "PUT", "/v2/images", None, {}, 405, "not allowed"),
]


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ImageWorld]:
    yield from module_world(request, tmp_path_factory)


def _fixtures(world: ImageWorld) -> dict[str, str]:
    def create(api: Any, **body: Any) -> str:
        return str(api.ok("POST", "/v2/images", body, status=201)["id"])

    formats = {"disk_format": "raw", "container_format": "bare"}
    ids = {
        "active": create(world.alice, name="active", **formats),
        "queued": create(world.alice, name="queued", **formats),
        "protected": create(world.alice, name="protected", protected=True, **formats),
        "bare": create(world.alice, name="bare"),
        "public": create(world.admin, name="public", visibility="public", **formats),
        "private": create(world.alice, name="private", visibility="private", **formats),
        "shared": create(world.alice, name="shared", **formats),
        "bob": world.bob.project_id,
    }
    assert world.alice.upload(ids["active"], b"data").status_code == 204
    world.alice.ok("POST", f"/v2/images/{ids['shared']}/members", {"member": ids["bob"]})
    return ids


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        for name, ident in ids.items():
            value = value.replace("{" + name + "}", ident)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def test_bad_requests_get_glance_errors_and_change_nothing(world: ImageWorld) -> None:
    ids = _fixtures(world)
    before = world.admin.ok("GET", "/v2/images?limit=1000&visibility=all")["images"]
    stored = sorted(p.name for p in world.images_dir.iterdir())
    failures = []
    for who, method, path, body, headers, status, fragment in CASES:
        api = getattr(world, who if who != "anonymous" else "alice")
        auth = {} if who != "anonymous" else {"X-Auth-Token": ""}
        kw: dict[str, Any] = {"headers": {**headers, **auth}}
        if isinstance(body, bytes):
            kw["content"] = body
        elif body is not None:
            kw["json"] = _fill(body, ids)
        response = api.raw(method, _fill(path, ids), **kw)
        answer = response.json() if response.content else {}
        ok = (
            response.status_code == status
            and fragment in answer.get("message", "")
            and answer.get("code", "").startswith(str(status))
            and "title" in answer
        )
        if not ok:
            failures.append((method, path, body, status, response.status_code, answer))
    assert failures == []
    after = world.admin.ok("GET", "/v2/images?limit=1000&visibility=all")["images"]
    assert after == before  # nothing created, nothing changed
    assert sorted(p.name for p in world.images_dir.iterdir()) == stored
