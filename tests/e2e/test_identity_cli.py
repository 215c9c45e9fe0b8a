"""The `openstack` CLI against a running Strata: the commands operators type."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cloud import RunningCloud

pytestmark = pytest.mark.e2e

OPENSTACK = shutil.which("openstack", path=str(Path(sys.executable).parent)) or "openstack"


def osc(
    cloud: RunningCloud, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [OPENSTACK, *args],
        check=False,
        env=env or cloud.env(),
        text=True,
        capture_output=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"openstack {' '.join(args)} failed:\n{result.stderr}")
    return result


def osc_json(cloud: RunningCloud, *args: str, env: dict[str, str] | None = None) -> Any:
    return json.loads(osc(cloud, *args, "-f", "json", env=env).stdout)


def test_token_issue_gives_a_project_scoped_token(cloud: RunningCloud) -> None:
    token = osc_json(cloud, "token", "issue")
    project = osc_json(cloud, "project", "show", "admin")
    assert token["project_id"] == project["id"]
    assert token["id"]


def test_projects_users_roles_and_assignments(cloud: RunningCloud) -> None:
    project = osc_json(cloud, "project", "create", "--domain", "default", "cli-demo")
    user = osc_json(
        cloud,
        "user",
        "create",
        "--password",
        "pw-cli",
        "--project",
        "cli-demo",
        "--domain",
        "default",
        "cli-alice",
    )
    osc(cloud, "role", "add", "--project", "cli-demo", "--user", "cli-alice", "member")
    names = [p["Name"] for p in osc_json(cloud, "project", "list")]
    assert "cli-demo" in names
    assert "cli-alice" in [u["Name"] for u in osc_json(cloud, "user", "list")]
    rows = osc_json(
        cloud,
        "role",
        "assignment",
        "list",
        "--user",
        "cli-alice",
        "--project",
        "cli-demo",
        "--names",
    )
    assert rows == [
        {
            "Role": "member",
            "User": "cli-alice@Default",
            "Group": "",
            "Project": "cli-demo@Default",
            "Domain": "",
            "System": "",
            "Inherited": False,
        }
    ]
    # The new user can log in and sees only their project.
    alice = cloud.env(OS_USERNAME="cli-alice", OS_PASSWORD="pw-cli", OS_PROJECT_NAME="cli-demo")
    token = osc_json(cloud, "token", "issue", env=alice)
    assert token["project_id"] == project["id"]
    assert token["user_id"] == user["id"]


def test_duplicate_project_is_a_conflict(cloud: RunningCloud) -> None:
    osc(cloud, "project", "create", "--domain", "default", "cli-dup")
    again = osc(cloud, "project", "create", "--domain", "default", "cli-dup", check=False)
    assert again.returncode != 0
    assert "409" in again.stderr


def test_catalog_lists_every_service(cloud: RunningCloud) -> None:
    types = {entry["Type"] for entry in osc_json(cloud, "catalog", "list")}
    assert types == {"identity", "compute", "network", "block-storage", "image"}


def test_application_credential_create_and_use(cloud: RunningCloud) -> None:
    cred = osc_json(cloud, "application", "credential", "create", "cli-app")
    env = cloud.env()
    for key in (
        "OS_USERNAME",
        "OS_PASSWORD",
        "OS_PROJECT_NAME",
        "OS_USER_DOMAIN_NAME",
        "OS_PROJECT_DOMAIN_NAME",
    ):
        env.pop(key)
    env.update(
        {
            "OS_AUTH_TYPE": "v3applicationcredential",
            "OS_APPLICATION_CREDENTIAL_ID": cred["ID"],
            "OS_APPLICATION_CREDENTIAL_SECRET": cred["Secret"],
        }
    )
    token = osc_json(cloud, "token", "issue", env=env)
    assert token["project_id"] == cred["Project ID"]
    env["OS_APPLICATION_CREDENTIAL_SECRET"] = "wrong"
    bad = osc(cloud, "token", "issue", env=env, check=False)
    assert bad.returncode != 0
    assert "401" in bad.stderr


def test_wrong_password_is_401(cloud: RunningCloud) -> None:
    result = osc(cloud, "token", "issue", env=cloud.env(OS_PASSWORD="nope"), check=False)
    assert result.returncode != 0
    assert "401" in result.stderr
