"""A request id leads to every event it caused, across services: creating a
server writes the server, its port (network), its claim on a host
(placement) — and the agent's later report carries its own request id."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from tests.e2e.cloud import RunningCloud
from tests.e2e.test_compute_agent_stub import register_host
from tests.support.auth import issue_token

pytestmark = pytest.mark.e2e


def call(url: str, token: str, method: str = "GET", body: Any = None) -> tuple[Any, str]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"X-Auth-Token": token, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        raw = response.read()
        return (json.loads(raw) if raw else None), response.headers["X-OpenStack-Request-Id"]


def test_a_server_create_request_id_finds_its_server_port_and_claim(
    cloud: RunningCloud,
) -> None:
    register_host(cloud)
    token = issue_token(cloud.auth_url, cloud.password)
    port = {name: f"http://127.0.0.1:{cloud.ports[name]}" for name in cloud.ports}
    net, _ = call(f"{port['network']}/v2.0/networks", token, "POST", {"network": {"name": "a"}})
    net_id = net["network"]["id"]
    subnet = {"subnet": {"network_id": net_id, "cidr": "10.61.0.0/24", "ip_version": 4}}
    call(f"{port['network']}/v2.0/subnets", token, "POST", subnet)
    flavor, _ = call(
        f"{port['compute']}/v2.1/flavors",
        token,
        "POST",
        {"flavor": {"name": "audit.tiny", "vcpus": 1, "ram": 128, "disk": 0}},
    )
    image, _ = call(
        f"{port['image']}/v2/images",
        token,
        "POST",
        {"name": "audit-image", "disk_format": "raw", "container_format": "bare"},
    )
    upload = urllib.request.Request(
        f"{port['image']}/v2/images/{image['id']}/file",
        data=b"\0" * 4096,
        method="PUT",
        headers={"X-Auth-Token": token, "Content-Type": "application/octet-stream"},
    )
    urllib.request.urlopen(upload, timeout=60).close()
    server, request_id = call(
        f"{port['compute']}/v2.1/servers",
        token,
        "POST",
        {
            "server": {
                "name": "audited",
                "flavorRef": flavor["flavor"]["id"],
                "imageRef": image["id"],
                "networks": [{"uuid": net_id}],
            }
        },
    )
    server_id = server["server"]["id"].replace("-", "")
    found, _ = call(f"{port['events']}/v1/audit?request_id={request_id}&limit=100", token)
    events = found["events"]
    assert {e["request_id"] for e in events} == {request_id}
    services = {e["type"].split(".")[1] for e in events}
    assert {"compute", "network"} <= services, services
    types = [e["type"] for e in events]
    assert any(t.startswith("strata.compute.server.") for t in types), types
    assert any(t.startswith("strata.network.port.") for t in types), types
    assert any(t.startswith("strata.compute.host.") for t in types), types  # the claim
    assert server_id in {e["resource_id"].replace("-", "") for e in events}
