"""`strata up` streams its log: a private nats-server, the relay, CloudEvents."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import nats
import pytest

from infra.nats_server import find_nats_server
from tests.e2e.cloud import RunningCloud, start_cloud
from tests.support.auth import issue_token

pytestmark = pytest.mark.e2e


def token_for(cloud: RunningCloud) -> str:
    return issue_token(cloud.auth_url, cloud.password)


def create_project(cloud: RunningCloud, token: str, name: str) -> tuple[str, str]:
    request = urllib.request.Request(
        cloud.auth_url + "/projects",
        data=json.dumps({"project": {"name": name}}).encode(),
        headers={"Content-Type": "application/json", "X-Auth-Token": token},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        project = json.loads(response.read())["project"]
        return str(project["id"]), str(response.headers["X-OpenStack-Request-Id"])


def nats_url_from_log(cloud: RunningCloud) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        match = re.search(r"event stream\s+(nats://[\d.:]+)", cloud.log.read_text())
        if match:
            return match.group(1)
        time.sleep(0.1)
    raise AssertionError(
        "strata up did not say where its event stream is: " + cloud.log.read_text()
    )


async def next_project_event(url: str, project_id: str) -> tuple[str, dict[str, Any]]:
    """The first message about `project_id` on the project subjects."""
    nc = await nats.connect(url)
    try:
        sub = await nc.jetstream().subscribe("strata.events.identity.project.>", durable="e2e")
        while True:
            msg = await sub.next_msg(timeout=15)
            await msg.ack()
            event: dict[str, Any] = json.loads(msg.data)
            if event["subject"] == project_id:
                return msg.subject, event
    finally:
        await nc.close()


@pytest.mark.skipif(find_nats_server() is None, reason="nats-server is not installed")
def test_strata_up_streams_every_command_to_its_own_nats_server(tmp_path: Path) -> None:
    cloud = start_cloud(tmp_path / "cloud", start_nats=True)
    try:
        url = nats_url_from_log(cloud)
        token = token_for(cloud)
        project_id, request_id = create_project(cloud, token, "streamed")
        result = asyncio.run(next_project_event(url, project_id))
    finally:
        cloud.stop()
    subject, event = result
    assert subject == "strata.events.identity.project.created"
    assert event["specversion"] == "1.0"
    assert event["data"]["name"] == "streamed"
    assert event["stratameta"]["request_id"] == request_id
    assert (tmp_path / "cloud" / "nats").is_dir(), (
        "the private server keeps its stream in the data folder"
    )
