"""Crypto-shredding: a deleted user's personal data is gone from every reader
of the log, while the log still decodes and the read models still rebuild."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

import commands.identity  # noqa: F401
from commands.bus import CommandBus, Dependencies
from commands.context import Context
from commands.identity.people import CreateUser, DeleteUser, UpdateUser
from commands.identity.tenancy import CreateDomain
from domain.claims import claim_id
from domain.identity.ids import DEFAULT_DOMAIN_ID
from infra.database import open_database
from infra.eventstore import EventStore, open_recorder
from infra.settings import Settings
from projections.identity.projection import IdentityProjection
from projections.runner import ProjectionRunner
from tests.integration.test_store_contract import PlainPasswords

ADMIN = Context(user_id="admin", roles=frozenset({"admin"}))


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return Settings(data_dir=tmp_path)
    return Settings(data_dir=tmp_path, database_url=request.getfixturevalue("pg_dsn"))


@pytest.fixture
def parts(settings: Settings) -> Iterator[tuple[EventStore, ProjectionRunner, CommandBus]]:
    store = EventStore(open_recorder(settings))
    db = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
    runner = ProjectionRunner(db, store, [IdentityProjection()])
    runner.setup()
    bus = CommandBus(store, Dependencies(passwords=PlainPasswords()), after_commit=runner.wait_for)
    bus.dispatch(CreateDomain(name="Default", default=True), ADMIN)
    yield store, runner, bus
    db.close()


def raw_states(store: EventStore, aggregate_id: UUID) -> bytes:
    found = b""
    position = 0
    while batch := store.notifications(position, 1000):
        found += b"".join(n.state for n in batch if n.originator_id == aggregate_id)
        position = batch[-1].id
    return found


def create(bus: CommandBus, name: str) -> UUID:
    command = CreateUser(
        domain_id=DEFAULT_DOMAIN_ID,
        name=name,
        email=f"{name}@example.org",
        description=f"{name} from accounting",
        extra={"phone": "+44 20 7946 0000"},
    )
    result: UUID = bus.dispatch(command, ADMIN).outcome["id"]
    return result


def fields(store: EventStore, aggregate_id: UUID) -> list[dict[str, Any]]:
    return [
        {
            k: v
            for k, v in vars(e).items()
            if k in ("name", "email", "description", "extra", "changes", "key")
        }
        for e in store.history(aggregate_id)
    ]


def test_personal_data_is_sealed_at_rest_and_readable_while_the_key_lives(parts: Any) -> None:
    store, _, bus = parts
    user_id = create(bus, "alice")
    bus.dispatch(UpdateUser(user_id=user_id, email="alice@new.example"), ADMIN)
    raw = raw_states(store, user_id) + raw_states(
        store, claim_id("user", DEFAULT_DOMAIN_ID.hex, "alice")
    )
    # The phone number whole: four digits alone turn up by chance in
    # ciphertext, ids and timestamps.
    for secret in (b"alice", b"accounting", b"example", b"20 7946 0000"):
        assert secret not in raw, f"{secret!r} is stored in clear"
    created, updated = fields(store, user_id)
    assert created["name"] == "alice"
    assert created["email"] == "alice@example.org"
    assert created["extra"] == {"phone": "+44 20 7946 0000"}
    assert updated["changes"]["email"] == "alice@new.example"
    claim = store.history(claim_id("user", DEFAULT_DOMAIN_ID.hex, "alice"))
    assert vars(claim[0])["key"] == "alice"


def test_deleting_a_user_shreds_their_data_and_replay_still_works(parts: Any) -> None:
    store, runner, bus = parts
    alice = create(bus, "alice")
    bob = create(bus, "bob")
    bus.dispatch(UpdateUser(user_id=alice, description="promoted"), ADMIN)
    bus.dispatch(DeleteUser(user_id=alice), ADMIN)

    created, updated, _deleted = fields(store, alice)
    assert created["name"] == "[removed]"
    assert created["email"] is None
    assert created["description"] == ""
    assert created["extra"] == {}
    assert updated["changes"]["description"] == ""
    claim = store.history(claim_id("user", DEFAULT_DOMAIN_ID.hex, "alice"))
    assert vars(claim[0])["key"] == "[removed]"
    assert fields(store, bob)[0]["name"] == "bob", "other people keep their data"

    live = runner.db.query("SELECT id, name, email FROM users ORDER BY id")
    runner.rebuild("identity")
    assert runner.db.query("SELECT id, name, email FROM users ORDER BY id") == live
    assert [r["name"] for r in live] == ["bob"]


def test_a_key_left_behind_by_a_crash_is_destroyed_on_the_next_start(parts: Any) -> None:
    store, _, bus = parts
    alice = create(bus, "alice")
    bus.dispatch(DeleteUser(user_id=alice), ADMIN)
    assert store.forget_deleted() == 0  # the delete already shredded it
    store.vault.seal(
        "domain.identity.users:User.Created", alice, {"name": "again"}
    )  # as if the key had survived
    assert store.vault.has_key(alice)
    assert store.forget_deleted() == 1
    assert not store.vault.has_key(alice)
