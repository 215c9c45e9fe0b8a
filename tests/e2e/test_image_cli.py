"""The `openstack image` commands against a running Strata, as operators type them."""

from __future__ import annotations

import json
import os
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


def test_create_list_show_set_save_delete(cloud: RunningCloud, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 5)
    source = tmp_path / "disk.qcow2"
    source.write_bytes(data)
    image = osc_json(
        cloud,
        "image",
        "create",
        "--file",
        str(source),
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "--property",
        "os_distro=cirros",
        "cli-cirros",
    )
    assert image["status"] == "active"
    assert image["size"] == len(data)
    listed = osc_json(cloud, "image", "list")
    assert {"ID": image["id"], "Name": "cli-cirros", "Status": "active"} in listed
    osc(cloud, "image", "set", "--property", "arch=x86_64", "--tag", "gold", "cli-cirros")
    shown = osc_json(cloud, "image", "show", "cli-cirros")
    assert shown["properties"]["arch"] == "x86_64"
    assert shown["properties"]["os_distro"] == "cirros"
    assert shown["tags"] == ["gold"]
    assert shown["created_at"].endswith("Z")
    assert [i["Name"] for i in osc_json(cloud, "image", "list", "--tag", "gold")] == ["cli-cirros"]
    out = tmp_path / "out"
    osc(cloud, "image", "save", "--file", str(out), "cli-cirros")
    assert out.read_bytes() == data
    osc(cloud, "image", "set", "--protected", "cli-cirros")
    refused = osc(cloud, "image", "delete", "cli-cirros", check=False)
    assert refused.returncode != 0 and "protected" in refused.stderr
    osc(cloud, "image", "set", "--unprotected", "--deactivate", "cli-cirros")
    assert osc_json(cloud, "image", "show", "cli-cirros")["status"] == "deactivated"
    osc(cloud, "image", "set", "--activate", "cli-cirros")
    osc(cloud, "image", "delete", "cli-cirros")
    missing = osc(cloud, "image", "show", image["id"], check=False)
    assert missing.returncode != 0
    assert not (cloud.data_dir / "images" / image["id"]).exists()


def test_share_an_image_with_another_project(cloud: RunningCloud, tmp_path: Path) -> None:
    osc(cloud, "project", "create", "--domain", "default", "img-guest")
    osc(
        cloud,
        "user",
        "create",
        "--password",
        "pw-guest",
        "--project",
        "img-guest",
        "--domain",
        "default",
        "img-guest",
    )
    osc(cloud, "role", "add", "--project", "img-guest", "--user", "img-guest", "member")
    guest = cloud.env(OS_USERNAME="img-guest", OS_PASSWORD="pw-guest", OS_PROJECT_NAME="img-guest")
    source = tmp_path / "kernel"
    source.write_bytes(b"\x7fELF kernel")
    kernel = osc_json(
        cloud,
        "image",
        "create",
        "--file",
        str(source),
        "--disk-format",
        "aki",
        "--container-format",
        "aki",
        "--shared",
        "cli-kernel",
    )
    assert kernel["visibility"] == "shared"
    member = osc_json(cloud, "image", "add", "project", "cli-kernel", "img-guest")
    assert member["status"] == "pending"
    assert "cli-kernel" not in [i["Name"] for i in osc_json(cloud, "image", "list", env=guest)]
    osc(cloud, "image", "set", "--accept", kernel["id"], env=guest)
    assert "cli-kernel" in [i["Name"] for i in osc_json(cloud, "image", "list", env=guest)]
    members = osc_json(cloud, "image", "member", "list", "cli-kernel")
    assert [m["Status"] for m in members] == ["accepted"]
    refused = osc(cloud, "image", "delete", kernel["id"], env=guest, check=False)
    assert refused.returncode != 0 and "403" in refused.stderr
    osc(cloud, "image", "remove", "project", "cli-kernel", "img-guest")
    assert "cli-kernel" not in [i["Name"] for i in osc_json(cloud, "image", "list", env=guest)]
