"""The image API over real HTTP, on SQLite and PostgreSQL: uploads (complete,
interrupted, mismatched), downloads, PATCH semantics, members, paging."""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest

from api.image.app import recover_uploads
from commands.context import SYSTEM_CONTEXT
from commands.image.uploads import StartUpload
from infra.image_store import ImageStore
from projections.image.queries import ImageQueries
from tests.integration.test_image_world import BACKENDS, Api, ImageWorld, module_world


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ImageWorld]:
    yield from module_world(request, tmp_path_factory)


def create(api: Api, **body: Any) -> dict[str, Any]:
    body.setdefault("disk_format", "raw")
    body.setdefault("container_format", "bare")
    response = api.raw("POST", "/v2/images", json=body)
    assert response.status_code == 201, response.text
    doc: dict[str, Any] = response.json()
    assert response.headers["Location"].endswith(f"/v2/images/{doc['id']}")
    return doc


def status_of(api: Api, image_id: str) -> str:
    return str(api.ok("GET", f"/v2/images/{image_id}")["status"])


def files(world: ImageWorld) -> list[str]:
    return sorted(p.name for p in world.images_dir.iterdir())


def test_version_document_and_schemas(world: ImageWorld) -> None:
    response = world.alice.raw("GET", "/")
    assert response.status_code == 300
    versions = response.json()["versions"]
    assert versions[0]["status"] == "CURRENT"
    assert all(v["links"][0]["rel"] == "self" for v in versions)
    assert {"v2.0", "v2.16"} <= {v["id"] for v in versions}
    assert world.alice.ok("GET", "/versions")["versions"] == versions
    assert world.alice.ok("GET", "/v2/schemas/image")["name"] == "image"
    assert "images" in world.alice.ok("GET", "/v2/schemas/images")["properties"]
    assert world.alice.ok("GET", "/v2/schemas/member")["name"] == "member"
    assert world.alice.ok("GET", "/v2/schemas/members")["name"] == "members"


def test_upload_download_round_trip(world: ImageWorld) -> None:
    image = create(world.alice, name="round-trip", os_distro="debian")
    assert image["status"] == "queued" and image["os_distro"] == "debian"
    assert image["created_at"].endswith("Z") and len(image["created_at"]) == 20
    assert world.alice.raw("GET", f"/v2/images/{image['id']}/file").status_code == 204
    data = os.urandom(3 * 1024 * 1024 + 17)
    response = world.alice.upload(image["id"], data, **{"X-OpenStack-Image-Size": str(len(data))})
    assert response.status_code == 204, response.text
    shown = world.alice.ok("GET", f"/v2/images/{image['id']}")
    assert shown["status"] == "active"
    assert shown["size"] == shown["virtual_size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert (shown["os_hash_algo"], shown["os_hash_value"]) == (
        "sha512",
        hashlib.sha512(data).hexdigest(),
    )
    download = world.alice.raw("GET", f"/v2/images/{image['id']}/file")
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["Content-MD5"] == shown["checksum"]
    part = world.alice.raw("GET", f"/v2/images/{image['id']}/file", headers={"Range": "bytes=5-9"})
    assert (part.status_code, part.content) == (206, data[5:10])
    assert part.headers["Content-Range"] == f"bytes 5-9/{len(data)}"
    tail = world.alice.raw("GET", f"/v2/images/{image['id']}/file", headers={"Range": "bytes=-3"})
    assert tail.content == data[-3:]
    bad = world.alice.raw("GET", f"/v2/images/{image['id']}/file", headers={"Range": "bytes=9-5"})
    assert bad.status_code == 416
    again = world.alice.upload(image["id"], b"more")
    assert again.status_code == 409
    assert "active to saving" in again.json()["message"]
    world.alice.ok("DELETE", f"/v2/images/{image['id']}", status=204)
    assert image["id"] not in files(world)


def test_mismatched_size_leaves_a_queued_image_and_no_file(world: ImageWorld) -> None:
    image = create(world.alice, name="short")
    response = world.alice.upload(image["id"], b"12345", **{"X-OpenStack-Image-Size": "10"})
    assert response.status_code == 400
    assert "does not match" in response.json()["message"]
    assert status_of(world.alice, image["id"]) == "queued"
    assert image["id"] not in files(world) and not any(f.endswith(".part") for f in files(world))


def test_an_aborted_upload_leaves_a_queued_image_and_no_file(world: ImageWorld) -> None:
    image = create(world.alice, name="aborted")
    url = urlsplit(world.url)
    head = (
        f"PUT /v2/images/{image['id']}/file HTTP/1.1\r\n"
        f"Host: {url.hostname}\r\nX-Auth-Token: {world.alice.token}\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {8 * 1024 * 1024}\r\n\r\n"
    )
    with socket.create_connection((url.hostname or "", url.port or 80)) as sock:
        sock.sendall(head.encode() + os.urandom(2 * 1024 * 1024))
        deadline = time.monotonic() + 10
        while status_of(world.alice, image["id"]) != "saving" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert status_of(world.alice, image["id"]) == "saving"
    deadline = time.monotonic() + 10
    while status_of(world.alice, image["id"]) != "queued" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status_of(world.alice, image["id"]) == "queued"
    assert not any(f.endswith(".part") for f in files(world))
    # and the image can still be uploaded afterwards
    assert world.alice.upload(image["id"], b"complete").status_code == 204
    assert status_of(world.alice, image["id"]) == "active"


def test_patch_follows_glance(world: ImageWorld) -> None:
    image = create(world.alice, name="patchy", color="red")
    path = image["id"]
    code, doc = world.alice.patch(
        path,
        [
            {"op": "add", "path": "/flavor", "value": "vanilla"},
            {"op": "replace", "path": "/color", "value": "blue"},
            {"op": "replace", "path": "/name", "value": "patched"},
            {"op": "add", "path": "/tags", "value": ["a", "b"]},
            {"op": "add", "path": "/tags/-", "value": "c"},
            {"op": "replace", "path": "/min_ram", "value": 512},
        ],
    )
    assert code == 200, doc
    assert (doc["flavor"], doc["color"], doc["name"], doc["min_ram"]) == (
        "vanilla",
        "blue",
        "patched",
        512,
    )
    assert doc["tags"] == ["a", "b", "c"]
    code, doc = world.alice.patch(path, [{"op": "remove", "path": "/color"}])
    assert code == 200 and "color" not in doc
    code, doc = world.alice.patch(path, [{"op": "replace", "path": "/nothing", "value": "x"}])
    assert code == 409 and doc["message"] == "Property nothing does not exist."
    world.alice.ok("PUT", f"/v2/images/{path}/tags/gold", status=204)
    world.alice.ok("DELETE", f"/v2/images/{path}/tags/a", status=204)
    assert world.alice.ok("GET", f"/v2/images/{path}")["tags"] == ["b", "c", "gold"]
    code, doc = world.bob.patch(path, [{"op": "replace", "path": "/name", "value": "x"}])
    assert code == 404  # bob cannot even see alice's shared image


def test_members_share_an_image(world: ImageWorld) -> None:
    image = create(world.alice, name="for-bob")
    members = f"/v2/images/{image['id']}/members"
    member = world.alice.ok("POST", members, {"member": world.bob.project_id})
    assert member["status"] == "pending" and member["member_id"] == world.bob.project_id
    assert member["schema"] == "/v2/schemas/member"
    ids = [i["id"] for i in world.bob.ok("GET", "/v2/images")["images"]]
    assert image["id"] not in ids
    pending = world.bob.ok("GET", "/v2/images?member_status=pending")["images"]
    assert image["id"] in [i["id"] for i in pending]
    assert world.bob.ok("GET", f"/v2/images/{image['id']}")["name"] == "for-bob"
    code, _ = world.alice("PUT", f"{members}/{world.bob.project_id}", {"status": "accepted"})
    assert code == 403  # only the member answers
    accepted = world.bob.ok("PUT", f"{members}/{world.bob.project_id}", {"status": "accepted"})
    assert accepted["status"] == "accepted"
    ids = [i["id"] for i in world.bob.ok("GET", "/v2/images")["images"]]
    assert image["id"] in ids
    listed = world.alice.ok("GET", members)
    assert [m["member_id"] for m in listed["members"]] == [world.bob.project_id]
    assert listed["schema"] == "/v2/schemas/members"
    world.alice.ok("DELETE", f"{members}/{world.bob.project_id}", status=204)
    assert world.bob(("GET"), f"/v2/images/{image['id']}")[0] == 404


def test_list_pages_with_next_links(world: ImageWorld) -> None:
    for i in range(5):
        create(world.bob, name=f"page-{i}", visibility="private")
    names: list[str] = []
    path = "/v2/images?limit=2&sort=name:asc&visibility=private"
    while path:
        body = world.bob.ok("GET", path)
        assert body["schema"] == "/v2/schemas/images"
        assert body["first"].startswith("/v2/images?")
        names += [i["name"] for i in body["images"]]
        path = body.get("next", "")
    assert names == [f"page-{i}" for i in range(5)]
    only = world.bob.ok("GET", '/v2/images?name=in:page-1,"x,y",page-3&sort_key=name&sort_dir=asc')
    assert [i["name"] for i in only["images"]] == ["page-1", "page-3"]


def test_deactivated_images_cannot_be_downloaded_by_members(world: ImageWorld) -> None:
    image = create(world.admin, name="deactivated", visibility="public")
    assert world.admin.upload(image["id"], b"data").status_code == 204
    world.admin.ok("POST", f"/v2/images/{image['id']}/actions/deactivate", status=204)
    assert status_of(world.alice, image["id"]) == "deactivated"
    response = world.alice.raw("GET", f"/v2/images/{image['id']}/file")
    assert response.status_code == 403
    assert world.admin.raw("GET", f"/v2/images/{image['id']}/file").content == b"data"
    world.admin.ok("POST", f"/v2/images/{image['id']}/actions/reactivate", status=204)
    assert world.alice.raw("GET", f"/v2/images/{image['id']}/file").content == b"data"


def test_uploads_a_dead_process_left_saving_go_back_to_queued(world: ImageWorld) -> None:
    image = create(world.alice, name="orphaned-upload")
    world.cloud.bus.dispatch(StartUpload(image_id=uuid.UUID(image["id"])), SYSTEM_CONTEXT)
    assert status_of(world.alice, image["id"]) == "saving"
    store = ImageStore(world.images_dir)
    live = create(world.alice, name="live-upload")
    world.cloud.bus.dispatch(StartUpload(image_id=uuid.UUID(live["id"])), SYSTEM_CONTEXT)
    arriving = store.begin(live["id"], "raw")  # another process is writing this one
    try:
        recovered = recover_uploads(world.cloud.bus, ImageQueries(world.cloud.db), store)
    finally:
        arriving.discard()
    assert recovered == [image["id"]]
    assert status_of(world.alice, image["id"]) == "queued"
    assert status_of(world.alice, live["id"]) == "saving"


def test_an_image_deleted_during_its_upload_is_gone_with_its_data(world: ImageWorld) -> None:
    image = create(world.alice, name="deleted-while-uploading")
    url = urlsplit(world.url)
    body = os.urandom(1024 * 1024)
    head = (
        f"PUT /v2/images/{image['id']}/file HTTP/1.1\r\n"
        f"Host: {url.hostname}\r\nX-Auth-Token: {world.alice.token}\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {2 * len(body)}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((url.hostname or "", url.port or 80)) as sock:
        sock.sendall(head.encode() + body)
        deadline = time.monotonic() + 10
        while status_of(world.alice, image["id"]) != "saving" and time.monotonic() < deadline:
            time.sleep(0.02)
        world.alice.ok("DELETE", f"/v2/images/{image['id']}", status=204)
        sock.sendall(body)
        answer = sock.makefile("rb").readline()
    assert b" 410 " in answer
    assert world.alice("GET", f"/v2/images/{image['id']}")[0] == 404
    assert image["id"] not in files(world)
    assert not any(f.endswith(".part") for f in files(world))


def test_two_concurrent_uploads_one_wins(world: ImageWorld) -> None:
    image = create(world.alice, name="contended")
    payloads = [os.urandom(512 * 1024), os.urandom(512 * 1024)]
    with ThreadPoolExecutor(2) as pool:
        codes = sorted(pool.map(lambda d: world.alice.upload(image["id"], d).status_code, payloads))
    assert codes == [204, 409]
    shown = world.alice.ok("GET", f"/v2/images/{image['id']}")
    stored = (world.images_dir / image["id"]).read_bytes()
    assert stored in payloads and shown["checksum"] == hashlib.md5(stored).hexdigest()
