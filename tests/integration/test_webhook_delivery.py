"""Webhooks end to end: registered over HTTP, delivered by the worker to local
receivers (http.server in threads), signed, retried, logged, and a dead
endpoint never holding back a healthy one."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from commands.identity.tenancy import UpdateProject
from infra.settings import Settings
from projections.audit.feed import EventFeed
from projections.audit.queries import AuditQueries
from projections.audit.webhooks import WebhookQueries
from tests.integration.test_audit_setup import BACKENDS, World, running_world, settings_for
from workers.webhooks.log import DeliveryLog
from workers.webhooks.sender import RetryPolicy, verify
from workers.webhooks.worker import WebhookWorker


class Receiver:
    """An HTTP endpoint answering the given statuses in turn, then 200."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.calls: list[tuple[int, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.calls.append((status, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> list[dict[str, Any]]:
        return [json.loads(body) for status, _, body in self.calls if status == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with running_world(Settings(data_dir=tmp_path)) as built:
        yield built


@pytest.fixture(params=BACKENDS)
def any_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with running_world(settings_for(request.param, tmp_path, request)) as built:
        yield built


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def register(world: World, headers: dict[str, str], **webhook: Any) -> dict[str, Any]:
    with world.client() as client:
        response = client.post("/v1/webhooks", json={"webhook": webhook}, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()["webhook"]
    return created


def test_the_webhooks_api_is_scoped_to_the_project(world: World) -> None:
    mine = register(world, world.alice.headers, url="http://127.0.0.1:9/a", types=[])
    assert mine["filter_project_id"] == world.alice.project_id
    assert len(mine["secret"]) >= 16  # made up and shown once
    with world.client() as client:
        listed = client.get("/v1/webhooks", headers=world.alice.headers).json()["webhooks"]
        assert [w["id"] for w in listed] == [mine["id"]] and "secret" not in listed[0]
        assert client.get("/v1/webhooks", headers=world.bob.headers).json()["webhooks"] == []
        path = f"/v1/webhooks/{mine['id']}"
        assert client.get(path, headers=world.bob.headers).status_code == 404
        assert client.get(path, headers=world.admin.headers).status_code == 200
        assert client.delete(path, headers=world.bob.headers).status_code == 404
        elsewhere = {"webhook": {"url": "http://x.example/", "project_id": world.bob.project_id}}
        refused = client.post("/v1/webhooks", json=elsewhere, headers=world.alice.headers)
        assert refused.status_code == 403
        bad = client.post(
            "/v1/webhooks", json={"webhook": {"url": "ftp://x/"}}, headers=world.alice.headers
        )
        assert bad.status_code == 400
        assert client.delete(path, headers=world.alice.headers).status_code == 204
        assert client.get(path, headers=world.alice.headers).status_code == 404


def test_deliveries_are_signed_retried_logged_and_independent(any_world: World) -> None:
    world = any_world
    flaky, healthy, dead = Receiver([500, 503]), Receiver([]), Receiver([500] * 50)
    project_a = UUID(world.alice.project_id)
    secret = "flaky-secret-0123456789"
    hooks = {
        "flaky": register(
            world,
            world.alice.headers,
            url=flaky.url,
            secret=secret,
            types=["strata.identity.project.updated"],
        ),
        "healthy": register(world, world.admin.headers, url=healthy.url, project_id=project_a.hex),
        "dead": register(world, world.admin.headers, url=dead.url, project_id=project_a.hex),
    }
    cloud = world.cloud
    audit = AuditQueries(cloud.db)
    worker = WebhookWorker(
        WebhookQueries(cloud.db),
        EventFeed(cloud.store, audit, "strata"),
        DeliveryLog(cloud.db),
        RetryPolicy(attempts=4, first_delay=0.3, factor=2.0),
        interval=0.05,
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: len(worker.running) == 3)
        for n in range(3):
            cloud.bus.dispatch(
                UpdateProject(project_id=project_a, description=f"d{n}"), world.admin.ctx()
            )
        wait_until(lambda: len(healthy.delivered()) == 3)
        # The dead endpoint is still being retried on its first event.
        assert len(dead.calls) < 4
        wait_until(lambda: len(flaky.delivered()) == 3)
        assert [status for status, _, _ in flaky.calls] == [500, 503, 200, 200, 200]
        for _, headers, body in flaky.calls:
            assert verify(secret, body, headers["X-Strata-Signature"])
        assert [e["data"]["changes"]["description"] for e in flaky.delivered()] == [
            "d0",
            "d1",
            "d2",
        ]
        with world.client() as client:
            path = f"/v1/webhooks/{hooks['flaky']['id']}/deliveries"
            log = client.get(path, headers=world.alice.headers).json()["deliveries"]
            assert client.get(path, headers=world.bob.headers).status_code == 404
        assert [(d["attempt"], d["outcome"]) for d in log] == [
            (1, "retrying"),
            (2, "retrying"),
            (3, "delivered"),
            (1, "delivered"),
            (1, "delivered"),
        ]
        assert log[0]["status_code"] == 500
        # Given up on after four attempts, the dead endpoint moves on.
        wait_until(lambda: len(dead.calls) >= 5, timeout=15)
        failed = DeliveryLog(cloud.db).deliveries(hooks["dead"]["id"])
        assert [d["outcome"] for d in failed[:4]] == ["retrying"] * 3 + ["failed"]
    finally:
        stop.set()
        thread.join(10)
        for receiver in (flaky, healthy, dead):
            receiver.close()
