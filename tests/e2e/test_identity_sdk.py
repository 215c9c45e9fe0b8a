"""openstacksdk and raw HTTP against a running Strata: shapes, errors, policy."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import openstack
import pytest
from openstack import exceptions

from tests.e2e.cloud import RunningCloud
from tests.support.auth import password_auth

pytestmark = pytest.mark.e2e


def connect(
    cloud: RunningCloud, user: str = "admin", password: str | None = None, project: str = "admin"
) -> openstack.connection.Connection:
    return openstack.connect(
        auth_url=cloud.auth_url,
        username=user,
        password=password or cloud.password,
        project_name=project,
        user_domain_name="Default",
        project_domain_name="Default",
        region_name="RegionOne",
        identity_api_version="3",
    )


def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            headers_out = {k.lower(): v for k, v in response.headers.items()}
            return response.status, headers_out, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        headers_err = {k.lower(): v for k, v in error.headers.items()}
        return error.code, headers_err, json.loads(raw) if raw else None


def test_sdk_creates_and_grants(cloud: RunningCloud) -> None:
    conn = connect(cloud)
    project = conn.identity.create_project(name="sdk-proj", domain_id="default")
    user = conn.identity.create_user(
        name="sdk-bob", password="pw-bob", domain_id="default", default_project_id=project.id
    )
    member = conn.identity.find_role("member")
    conn.grant_role(member.id, user=user.id, project=project.id)
    assert conn.identity.find_user("sdk-bob").id == user.id
    assert "sdk-proj" in [p.name for p in conn.identity.projects()]
    bob = connect(cloud, "sdk-bob", "pw-bob", "sdk-proj")
    assert bob.current_project_id == project.id


def test_member_cannot_reach_another_project(cloud: RunningCloud) -> None:
    conn = connect(cloud)
    mine = conn.identity.create_project(name="iso-a", domain_id="default")
    other = conn.identity.create_project(name="iso-b", domain_id="default")
    user = conn.identity.create_user(name="iso-user", password="pw-iso", domain_id="default")
    conn.grant_role(conn.identity.find_role("member").id, user=user.id, project=mine.id)
    iso = connect(cloud, "iso-user", "pw-iso", "iso-a")
    assert iso.identity.get_project(mine.id).name == "iso-a"
    with pytest.raises(exceptions.ForbiddenException):
        iso.identity.get_project(other.id)
    with pytest.raises(exceptions.ForbiddenException):
        iso.identity.create_project(name="iso-c", domain_id="default")
    # Scoping to a project without a role is refused.
    with pytest.raises(exceptions.SDKException, match="401"):
        connect(cloud, "iso-user", "pw-iso", "iso-b").authorize()


def test_bad_requests_answer_in_keystone_format(cloud: RunningCloud) -> None:
    token = str(connect(cloud).auth_token)
    base = cloud.auth_url
    auth = {"X-Auth-Token": token}
    cases = [
        ("POST", "/projects", {"nope": {}}, 400),
        ("POST", "/projects", {"project": {"name": "", "domain_id": "default"}}, 400),
        ("POST", "/projects", {"project": {"name": "x", "enabled": "maybe"}}, 400),
        ("POST", "/users", {"user": {"name": "u-no-domain", "domain_id": "nope"}}, 404),
        ("GET", "/projects/does-not-exist", None, 404),
        ("PATCH", "/domains/default", {"domain": {"enabled": "x"}}, 400),
    ]
    for method, path, body, status in cases:
        code, headers, payload = http(method, base + path, body, auth)
        assert code == status, (method, path, code, payload)
        assert set(payload["error"]) == {"code", "title", "message"}
        assert payload["error"]["code"] == status
        assert headers["x-openstack-request-id"].startswith("req-")


def test_token_validate_and_revoke(cloud: RunningCloud) -> None:
    admin = str(connect(cloud).auth_token)
    body = password_auth(cloud.password)
    code, headers, issued = http("POST", cloud.auth_url + "/auth/tokens", body)
    assert code == 201
    subject = headers["x-subject-token"]
    assert issued["token"]["roles"] and "system" not in issued["token"]
    code, _, checked = http(
        "GET",
        cloud.auth_url + "/auth/tokens",
        None,
        {"X-Auth-Token": admin, "X-Subject-Token": subject},
    )
    assert code == 200 and checked["token"]["audit_ids"] == issued["token"]["audit_ids"]
    code, _, _ = http(
        "DELETE",
        cloud.auth_url + "/auth/tokens",
        None,
        {"X-Auth-Token": admin, "X-Subject-Token": subject},
    )
    assert code == 204
    code, _, _ = http(
        "GET",
        cloud.auth_url + "/auth/tokens",
        None,
        {"X-Auth-Token": admin, "X-Subject-Token": subject},
    )
    assert code == 404
    code, _, _ = http("GET", cloud.auth_url + "/projects", None, {"X-Auth-Token": subject})
    assert code == 401


def test_idempotency_key_returns_first_outcome(cloud: RunningCloud) -> None:
    token = str(connect(cloud).auth_token)
    headers = {"X-Auth-Token": token, "Idempotency-Key": "create-idem-1"}
    body = {"project": {"name": "idem-proj", "domain_id": "default"}}
    first = http("POST", cloud.auth_url + "/projects", body, headers)
    second = http("POST", cloud.auth_url + "/projects", body, headers)
    assert first[0] == second[0] == 201
    assert first[2]["project"]["id"] == second[2]["project"]["id"]
    other = http(
        "POST",
        cloud.auth_url + "/projects",
        {"project": {"name": "idem-other", "domain_id": "default"}},
        headers,
    )
    assert other[0] == 409


def test_discovery_documents(cloud: RunningCloud) -> None:
    root = cloud.auth_url.removesuffix("/v3")
    code, _, body = http("GET", root + "/")
    assert code == 300
    version = body["versions"]["values"][0]
    assert version["status"] == "stable" and version["links"][0]["rel"] == "self"
    code, _, body = http("GET", cloud.auth_url)
    assert code == 200 and body["version"]["id"].startswith("v3")
