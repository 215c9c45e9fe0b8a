"""GET /v1/audit, /v1/resources/{id}/history and /v1/resources/{id}?at= through
a real server, and the index behind them on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from commands.webhooks import DeleteWebhook, RegisterWebhook
from infra.settings import Settings
from projections.audit.projection import AUDIT_TABLE, OWNERS_TABLE
from tests.integration.test_audit_setup import BACKENDS, World, running_world, settings_for


@pytest.fixture(params=BACKENDS)
def any_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with running_world(settings_for(request.param, tmp_path, request)) as built:
        yield built


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with running_world(Settings(data_dir=tmp_path)) as built:
        yield built


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def test_index_carries_who_why_and_the_inherited_owner(any_world: World) -> None:
    world = any_world
    bus = world.cloud.bus
    created = bus.dispatch(
        RegisterWebhook(url="http://127.0.0.1:9/hook", secret="s" * 20),
        world.alice.ctx("req-hook"),
    ).outcome["id"]
    bus.dispatch(DeleteWebhook(webhook_id=created), world.admin.ctx("req-gone"))
    with world.client() as client:
        body = client.get(
            "/v1/audit", params={"resource_id": created.hex}, headers=world.admin.headers
        ).json()
    rows = body["events"]
    # Modules directly under domain/ belong to no OpenStack service.
    assert [r["type"] for r in rows] == [
        "strata.internal.webhook.created",
        "strata.internal.webhook.deleted",
    ]
    first, second = rows
    assert first["user_id"] == world.alice.user_id
    assert first["actor_project_id"] == world.alice.project_id
    assert first["request_id"] == "req-hook"
    # The delete names no project, yet belongs to the webhook's project.
    assert second["project_id"] == first["project_id"] == world.alice.project_id
    assert second["user_id"] == world.admin.user_id and second["request_id"] == "req-gone"


def test_replay_rebuilds_the_same_index(any_world: World) -> None:
    world = any_world
    for n in range(5):
        world.project(world.alice, f"replayed-{n}")
    runner = world.cloud.runner
    live = {t.name: runner.rows(t.name) for t in (AUDIT_TABLE, OWNERS_TABLE)}
    report = runner.rebuild("audit")
    assert report.events == len(live["audit_events"])
    assert {t.name: runner.rows(t.name) for t in (AUDIT_TABLE, OWNERS_TABLE)} == live


def test_filters_and_pages(world: World) -> None:
    start = _now()
    time.sleep(0.01)
    one = world.project(world.alice, "filtered-1", request_id="req-one")
    world.rename(world.alice, one, "changed")
    time.sleep(0.01)
    middle = _now()
    two = world.project(world.bob, "filtered-2", request_id="req-two")
    headers = world.admin.headers
    with world.client() as client:

        def ids(**params: str) -> list[str]:
            body = client.get("/v1/audit", params=params, headers=headers).json()
            return [r["resource_id"] for r in body["events"]]

        # A request finds everything it caused: the project and its name claim.
        caused = client.get("/v1/audit", params={"request_id": "req-one"}, headers=headers)
        kinds = {(r["resource_type"], r["type"]) for r in caused.json()["events"]}
        assert kinds == {
            ("project", "strata.identity.project.created"),
            ("name_claim", "strata.internal.name_claim.created"),
        }
        assert ids(resource_id=str(one)) == [one.hex, one.hex]
        assert ids(user_id=world.bob.user_id, type="strata.identity.project.created") == [two.hex]
        assert ids(type="strata.identity.project.updated") == [one.hex]
        assert two.hex in ids(type="strata.identity.project.*")
        assert set(ids(since=start, until=middle, type="strata.identity.project.*")) == {one.hex}
        assert ids(project_id=two.hex, since=middle) == [two.hex]  # a project owns itself
        everything = ids(limit="1000")
        assert ids(order="desc", limit="3") == everything[::-1][:3]
        page = client.get("/v1/audit", params={"limit": "2"}, headers=headers).json()
        assert len(page["events"]) == 2 and page["links"]["next"]
        after = client.get(page["links"]["next"], headers=headers).json()
        assert after["events"][0]["id"] == page["events"][1]["id"] + 1
        bad = client.get("/v1/audit", params={"since": "yesterday"}, headers=headers)
        assert bad.status_code == 400
        assert bad.json()["error"]["title"] == "Bad Request"


def test_tenants_see_only_their_projects_events(world: World) -> None:
    mine = world.project(world.alice, "alice-own")
    # A webhook belongs to the project it was registered in.
    register = RegisterWebhook(url="http://127.0.0.1:9/b", secret="b" * 20)
    theirs = world.cloud.bus.dispatch(register, world.bob.ctx()).outcome["id"]
    with world.client() as client:
        events = client.get("/v1/audit", params={"limit": "1000"}, headers=world.alice.headers)
        seen = {r["resource_id"] for r in events.json()["events"]}
        assert mine.hex in seen and theirs.hex not in seen
        for row in events.json()["events"]:
            assert row["project_id"] == world.alice.project_id or (
                row["actor_project_id"] == world.alice.project_id
                and row["user_id"] == world.alice.user_id
            )
        other = client.get(
            "/v1/audit", params={"project_id": world.bob.project_id}, headers=world.alice.headers
        )
        assert other.status_code == 403
        for path in (f"/v1/resources/{theirs}/history", f"/v1/resources/{theirs}"):
            assert client.get(path, headers=world.alice.headers).status_code == 404
            assert client.get(path, headers=world.bob.headers).status_code == 200


def test_history_shows_changes_without_secrets(world: World) -> None:
    user = world.alice.user_id
    with world.client() as client:
        body = client.get(f"/v1/resources/{user}/history", headers=world.admin.headers).json()
    created = body["history"][0]
    assert created["type"] == "strata.identity.user.created"
    assert created["data"]["password_hash"] == "***"
    assert "argon2" not in str(body)
    with world.client() as client:
        missing = client.get(
            "/v1/resources/00000000000000000000000000000001/history", headers=world.admin.headers
        )
        assert missing.status_code == 404
        assert (
            client.get("/v1/resources/not-a-uuid", headers=world.admin.headers).status_code == 404
        )


def test_state_at_a_moment_is_folded_from_events(world: World) -> None:
    before_creation = _now()
    time.sleep(0.01)
    project = world.project(world.alice, "travelling")
    world.rename(world.alice, project, "first")
    time.sleep(0.01)
    between = _now()
    time.sleep(0.01)
    world.rename(world.alice, project, "second")
    with world.client() as client:

        def state(at: str | None) -> dict[str, object]:
            params = {"at": at} if at else {}
            response = client.get(
                f"/v1/resources/{project}", params=params, headers=world.admin.headers
            )
            assert response.status_code == 200, response.text
            resource: dict[str, object] = response.json()["resource"]
            return resource

        assert state(before_creation)["exists"] is False
        then = state(between)
        assert then["exists"] is True and then["version"] == 2
        assert then["state"]["description"] == "first"  # type: ignore[index]
        now = state(None)
        assert now["state"]["description"] == "second"  # type: ignore[index]
        assert now["type"] == "project"
