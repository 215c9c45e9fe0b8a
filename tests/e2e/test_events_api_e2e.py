"""The `events` service inside a real `strata up`: a request id returned by the
identity API leads to its events, and the SSE feed streams them."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.cloud import RunningCloud
from tests.e2e.test_event_stream import create_project, token_for

pytestmark = pytest.mark.e2e


def test_request_ids_lead_to_events_and_the_feed_streams_them(cloud: RunningCloud) -> None:
    token = token_for(cloud)
    project_id, request_id = create_project(cloud, token, "audited-e2e")
    base = f"http://127.0.0.1:{cloud.ports['events']}"
    headers = {"X-Auth-Token": token}
    with httpx.Client(base_url=base, timeout=10) as client:
        audit = client.get("/v1/audit", params={"request_id": request_id}, headers=headers)
        assert audit.status_code == 200, audit.text
        caused = audit.json()["events"]
        assert {(e["resource_id"], e["type"]) for e in caused} >= {
            (project_id, "strata.identity.project.created")
        }
        first = min(e["id"] for e in caused)
        stream_headers = {**headers, "Accept": "text/event-stream"}
        with client.stream(
            "GET", "/v1/events", params={"after": first - 1}, headers=stream_headers
        ) as response:
            data = next(line for line in response.iter_lines() if line.startswith("data: "))
        event = json.loads(data.removeprefix("data: "))
        assert event["id"] == str(first)
        assert event["stratameta"]["request_id"] == request_id
        state = client.get(f"/v1/resources/{project_id}", headers=headers).json()["resource"]
        assert state["state"]["name"] == "audited-e2e"
