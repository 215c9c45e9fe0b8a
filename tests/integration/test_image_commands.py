"""Image commands through the bus on SQLite and PostgreSQL: the read model they
fill, Glance's list visibility, filters, sorting and keyset pages, replay."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import commands.image  # noqa: F401
from commands.bus import Command, CommandBus, Dependencies
from commands.context import Context
from commands.image.images import AddImageTag, CreateImage, DeleteImage, UpdateImage
from commands.image.members import AddImageMember, UpdateImageMember
from commands.image.uploads import FailUpload, FinishUpload, StartUpload
from domain.errors import Conflict
from domain.image.images import ImageNotFound
from infra.database import open_database
from infra.eventstore import EventStore, open_recorder
from infra.settings import Settings
from projections.image.projection import ImageProjection
from projections.image.queries import ImageFilter, ImageQueries, Viewer
from projections.runner import ProjectionRunner
from tests.integration.test_image_world import BACKENDS, settings_for

ADMIN = Context(user_id="admin", project_id="p-admin", roles=frozenset({"admin"}))
ALICE = Context(user_id="alice", project_id="p-alice", roles=frozenset({"member"}))
BOB = Context(user_id="bob", project_id="p-bob", roles=frozenset({"member"}))


class NoPasswords:
    def hash(self, password: str) -> str:
        return password

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == password


@dataclass
class World:
    bus: CommandBus
    runner: ProjectionRunner
    queries: ImageQueries

    def run(self, command: Command, ctx: Context = ALICE) -> Any:
        return self.bus.dispatch(command, ctx).outcome["id"]

    def names(self, ctx: Context, **kw: Any) -> list[str]:
        viewer = Viewer(ctx.project_id or "", ctx.is_admin)
        return [r["name"] for r in self.queries.list(viewer, ImageFilter(**kw))]


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    settings: Settings = settings_for(request.param, tmp_path, request)
    store = EventStore(open_recorder(settings))
    db = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
    runner = ProjectionRunner(db, store, [ImageProjection()])
    runner.setup()
    bus = CommandBus(store, Dependencies(passwords=NoPasswords()), runner.wait_for)
    yield World(bus, runner, ImageQueries(db))
    db.close()


def _image(world: World, name: str, ctx: Context = ALICE, **kw: Any) -> uuid.UUID:
    kw.setdefault("disk_format", "qcow2")
    kw.setdefault("container_format", "bare")
    image_id: uuid.UUID = world.run(CreateImage(name=name, **kw), ctx)
    return image_id


def _activate(world: World, image_id: uuid.UUID, size: int, ctx: Context = ALICE) -> None:
    world.run(StartUpload(image_id=image_id), ctx)
    world.run(
        FinishUpload(
            image_id=image_id,
            size=size,
            virtual_size=None,
            checksum="c",
            os_hash_algo="sha512",
            os_hash_value="h",
        ),
        ctx,
    )


def test_upload_states_reach_the_read_model(world: World) -> None:
    image_id = _image(world, "cirros", properties={"os_distro": "cirros"}, tags=["t1"])
    row = world.queries.get(str(image_id))
    assert row is not None
    assert (row["status"], row["visibility"], row["owner"]) == ("queued", "shared", "p-alice")
    assert row["properties"] == {"os_distro": "cirros"} and row["tags"] == ["t1"]
    assert row["protected"] is False
    world.run(StartUpload(image_id=image_id))
    with pytest.raises(Conflict, match="saving to saving"):
        world.run(StartUpload(image_id=image_id))
    world.run(FailUpload(image_id=image_id, reason="client went away"))
    assert world.queries.get(str(image_id))["status"] == "queued"  # type: ignore[index]
    _activate(world, image_id, 42)
    row = world.queries.get(str(image_id))
    assert row is not None and (row["status"], row["size"]) == ("active", 42)
    world.run(DeleteImage(image_id=image_id))
    assert world.queries.get(str(image_id)) is None
    with pytest.raises(ImageNotFound):
        world.run(
            FinishUpload(
                image_id=image_id,
                size=1,
                virtual_size=None,
                checksum="c",
                os_hash_algo="sha512",
                os_hash_value="h",
            )
        )


def test_list_visibility_follows_glance(world: World) -> None:
    _image(world, "alice-private", visibility="private")
    shared = _image(world, "alice-shared")
    _image(world, "alice-community", visibility="community")
    _image(world, "public", ctx=ADMIN, visibility="public")
    _image(world, "bob-private", ctx=BOB, visibility="private")
    assert sorted(world.names(ALICE)) == [
        "alice-community",
        "alice-private",
        "alice-shared",
        "public",
    ]
    assert sorted(world.names(BOB)) == ["bob-private", "public"]
    assert world.names(BOB, visibility="community") == ["alice-community"]
    world.run(AddImageMember(image_id=shared, member="p-bob"))
    assert "alice-shared" not in world.names(BOB)  # pending: not listed by default
    assert sorted(world.names(BOB, member_status="pending")) == [
        "alice-shared",
        "bob-private",
        "public",
    ]
    world.run(UpdateImageMember(image_id=shared, member="p-bob", status="accepted"), BOB)
    assert "alice-shared" in world.names(BOB)
    assert world.names(BOB, visibility="shared") == ["alice-shared"]
    assert sorted(world.names(ADMIN)) == [
        "alice-private",
        "alice-shared",
        "bob-private",
        "public",
    ]


def test_filters_sorting_and_keyset_pages(world: World) -> None:
    ids = {}
    for i, name in enumerate(["b", "a", "d", "c", "e"]):
        ids[name] = _image(world, name, visibility="private", min_ram=i)
        if name in ("a", "c"):
            _activate(world, ids[name], 100 * (i + 1))
    world.run(AddImageTag(image_id=ids["a"], tag="gold"))
    world.run(AddImageTag(image_id=ids["c"], tag="gold"))
    world.run(UpdateImage(image_id=ids["e"], changes={"properties": {"os_distro": "debian"}}))
    world.run(UpdateImage(image_id=ids["d"], changes={"os_hidden": True}))
    assert world.names(ALICE) == ["e", "c", "a", "b"]  # newest first, hidden left out
    assert world.names(ALICE, os_hidden=True) == ["d"]
    assert world.names(ALICE, sort=[("name", "asc")]) == ["a", "b", "c", "e"]
    assert world.names(ALICE, tags=["gold"], sort=[("name", "asc")]) == ["a", "c"]
    assert world.names(ALICE, equals={"status": "active"}, sort=[("size", "desc")]) == ["c", "a"]
    assert world.names(ALICE, ranges=[("size", ">=", 300)]) == ["c"]
    assert world.names(ALICE, properties={"os_distro": "debian"}) == ["e"]
    assert world.names(ALICE, any_of={"name": ["a", "e", "zzz"]}) == ["e", "a"]
    pages, marker = [], None
    while True:
        viewer = Viewer("p-alice")
        wanted = ImageFilter(sort=[("size", "asc"), ("name", "desc")], limit=2, marker=marker)
        rows = world.queries.list(viewer, wanted)
        pages.append([r["name"] for r in rows])
        if len(rows) < 2:
            break
        marker = rows[-1]["id"]
    # sizes: b, e unset (0), a 200, c 400; ties broken by name descending
    assert pages == [["e", "b"], ["a", "c"], []]
    with pytest.raises(LookupError):
        world.queries.list(Viewer("p-bob"), ImageFilter(marker=str(ids["a"])))


def test_replay_rebuilds_the_same_rows(world: World) -> None:
    first = _image(world, "one", tags=["x"], properties={"a": "b"})
    _activate(world, first, 7)
    world.run(AddImageMember(image_id=first, member="p-bob"))
    second = _image(world, "two")
    world.run(DeleteImage(image_id=second))
    tables = ("images", "image_tags", "image_properties", "image_members")
    before = {t: world.runner.rows(t) for t in tables}
    world.runner.rebuild("image")
    assert {t: world.runner.rows(t) for t in tables} == before
