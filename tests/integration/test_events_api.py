"""GET /v1/events as JSON pages and as Server-Sent Events, through a real server.

The SSE tests read the stream with httpx as any program would, drop the
connection half-way, and resume with `Last-Event-ID`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.events.app import create_events_app
from infra.settings import Settings
from runtime.history import events_deps
from tests.integration.test_audit_setup import (
    BACKENDS,
    World,
    make_world,
    running_world,
    serving,
    settings_for,
)

SSE = {"Accept": "text/event-stream"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with running_world(Settings(data_dir=tmp_path)) as built:
        yield built


@pytest.fixture(params=BACKENDS)
def any_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with running_world(settings_for(request.param, tmp_path, request)) as built:
        yield built


def read_events(response: httpx.Response, count: int) -> list[dict[str, Any]]:
    """The next `count` SSE messages (id, event, data), comments skipped."""
    messages: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in response.iter_lines():
        if not line:
            if "data" in current:
                messages.append(current)
                if len(messages) == count:
                    return messages
            current = {}
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(": ")
            current[field] = int(value) if field == "id" else value
    return messages


def all_ids(world: World) -> list[int]:
    with world.client() as client:
        body = client.get("/v1/events", params={"limit": "1000"}, headers=world.admin.headers)
    return [int(e["id"]) for e in body.json()["events"]]


def test_json_pages_carry_the_nats_envelope(world: World) -> None:
    world.project(world.alice, "paged")
    with world.client() as client:
        first = client.get("/v1/events", params={"limit": "3"}, headers=world.admin.headers)
        body = first.json()
        assert len(body["events"]) == 3
        envelope = body["events"][0]
        assert envelope["specversion"] == "1.0" and envelope["id"] == "1"
        assert envelope["type"].startswith("strata.")
        following = client.get(body["links"]["next"], headers=world.admin.headers).json()
        assert following["events"][0]["id"] == "4"
        typed = client.get(
            "/v1/events",
            params={"type": "strata.identity.user.created", "limit": "100"},
            headers=world.admin.headers,
        ).json()["events"]
        assert typed and all(e["type"] == "strata.identity.user.created" for e in typed)
        assert all(e["data"]["password_hash"] == "***" for e in typed)


def test_tenants_only_get_their_projects_events(world: World) -> None:
    world.project(world.alice, "for-alice")
    with world.client() as client:
        mine = client.get("/v1/events", params={"limit": "1000"}, headers=world.alice.headers)
        audit = client.get("/v1/audit", params={"limit": "1000"}, headers=world.alice.headers)
        events = mine.json()["events"]
        # The feed shows exactly what the audit log shows the same caller.
        assert {e["id"] for e in events} == {str(r["id"]) for r in audit.json()["events"]}
        subjects = {e["subject"] for e in events}
        assert world.alice.project_id in subjects and world.bob.project_id not in subjects
        refused = client.get(
            "/v1/events", params={"project_id": world.bob.project_id}, headers=world.alice.headers
        )
        assert refused.status_code == 403
        streamed = client.get(
            "/v1/events",
            params={"project_id": world.bob.project_id},
            headers={**world.alice.headers, **SSE},
        )
        assert streamed.status_code == 403  # refused before any stream starts


def test_sse_resumes_after_a_dropped_connection_without_gaps_or_duplicates(
    any_world: World,
) -> None:
    world = any_world
    head = all_ids(world)[-1]
    for n in range(3):
        world.project(world.alice, f"before-{n}")
    received: list[dict[str, Any]] = []
    with (
        httpx.Client(base_url=world.url, timeout=10) as client,
        client.stream(
            "GET", "/v1/events", params={"after": head}, headers={**world.admin.headers, **SSE}
        ) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        received += read_events(response, 4)
    # Disconnected: the cloud goes on writing.
    for n in range(3):
        world.project(world.alice, f"while-away-{n}")
    last = received[-1]["id"]
    resumed = {**world.admin.headers, **SSE, "Last-Event-ID": str(last)}
    expected = [i for i in all_ids(world) if i > head]
    with (
        httpx.Client(base_url=world.url, timeout=10) as client,
        client.stream("GET", "/v1/events", headers=resumed) as response,
    ):
        received += read_events(response, len(expected) - len(received))
    assert [m["id"] for m in received] == expected
    payload = json.loads(received[0]["data"])
    assert payload["id"] == str(received[0]["id"])
    assert received[0]["event"] == payload["type"]


def test_sse_tails_new_events_live_for_each_tenant(world: World) -> None:
    head = all_ids(world)[-1]
    got: dict[str, list[dict[str, Any]]] = {}
    ready = threading.Barrier(3)

    def listen(name: str, headers: dict[str, str], count: int) -> None:
        with (
            httpx.Client(base_url=world.url, timeout=10) as client,
            client.stream(
                "GET", "/v1/events", params={"after": head}, headers={**headers, **SSE}
            ) as response,
        ):
            ready.wait()
            got[name] = read_events(response, count)

    from commands.webhooks import RegisterWebhook

    threads = [
        threading.Thread(target=listen, args=("alice", world.alice.headers, 1)),
        threading.Thread(target=listen, args=("admin", world.admin.headers, 2)),
    ]
    for thread in threads:
        thread.start()
    ready.wait()
    bus = world.cloud.bus
    bus.dispatch(RegisterWebhook(url="http://127.0.0.1:9/b", secret="b" * 20), world.bob.ctx())
    bus.dispatch(RegisterWebhook(url="http://127.0.0.1:9/a", secret="a" * 20), world.alice.ctx())
    for thread in threads:
        thread.join(10)
    assert [json.loads(m["data"])["stratameta"]["user_id"] for m in got["admin"]] == [
        world.bob.user_id,
        world.alice.user_id,
    ]
    (only,) = got["alice"]
    assert json.loads(only["data"])["stratameta"]["user_id"] == world.alice.user_id
    assert json.loads(only["data"])["data"]["secret"] == "***"


def test_sse_sends_keep_alive_comments(tmp_path: Path) -> None:
    built = make_world(Settings(data_dir=tmp_path))
    deps = events_deps(built.cloud)
    deps.keepalive_seconds = 0.1
    try:
        with (
            serving(create_events_app(deps)) as url,
            httpx.Client(base_url=url, timeout=10) as client,
            client.stream(
                "GET",
                "/v1/events",
                params={"after": 10**9},
                headers={**built.admin.headers, **SSE},
            ) as response,
        ):
            lines = response.iter_lines()
            assert next(lines) == "retry: 1000"
            comments = [line for line in (next(lines) for _ in range(4)) if line]
            assert comments[:2] == [": keep-alive", ": keep-alive"]
    finally:
        built.cloud.close()
