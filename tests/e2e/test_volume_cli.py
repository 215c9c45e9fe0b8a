"""The `openstack` CLI against a running Strata with its storage agent on real
qcow2 files: volumes empty, from an image, a snapshot and a volume; list,
show, extend, snapshots, upload to an image, limits, bad requests, delete."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cloud import RunningCloud, start_cloud
from tests.e2e.test_identity_cli import osc, osc_json
from tests.support.services import database_name, drop_database, fresh_database

pytestmark = pytest.mark.e2e
NO_COMPUTE = {"STRATA_COMPUTE_DRIVER": "off"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def cloud(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningCloud]:
    """conftest's cloud with the compute agent off: these tests need no guests,
    and a libvirt that is slow to answer must not hold `strata up` back."""
    folder = Path(tmp_path_factory.mktemp("cloud"))
    if request.param == "sqlite":
        running = start_cloud(folder, extra_env=NO_COMPUTE)
        yield running
        running.stop()
        return
    admin = request.getfixturevalue("pg_admin_dsn")
    dsn = fresh_database(admin, "strata_e2e")
    running = start_cloud(folder, database_url=dsn, extra_env=NO_COMPUTE)
    yield running
    running.stop()
    drop_database(admin, database_name(dsn))


def wait_status(cloud: RunningCloud, kind: str, name: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    shown: dict[str, Any] = {}
    while time.monotonic() < deadline:
        shown = osc_json(cloud, *kind.split(), "show", name)
        if shown["status"] == status:
            return shown
        assert shown["status"] != "error", shown
        time.sleep(0.1)
    raise AssertionError(f"{kind} {name} stayed {shown.get('status')}, wanted {status}")


def wait_gone(cloud: RunningCloud, kind: str, name: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if osc(cloud, *kind.split(), "show", name, check=False).returncode != 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"{kind} {name} was not deleted")


def test_volumes_snapshots_and_clones(cloud: RunningCloud, tmp_path: Path) -> None:
    created = osc_json(cloud, "volume", "create", "--size", "1", "--description", "d", "cli-empty")
    assert created["status"] == "creating" and created["size"] == 1
    shown = wait_status(cloud, "volume", "cli-empty", "available")
    assert shown["bootable"] in (False, "false") and shown["type"] == "__DEFAULT__"

    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"\x07" * 65536)
    osc(cloud, "image", "create", "--file", str(disk), "--disk-format", "raw",
        "--container-format", "bare", "--public", "cli-vol-image")  # fmt: skip
    osc(cloud, "volume", "create", "--size", "1", "--image", "cli-vol-image", "cli-boot")
    assert wait_status(cloud, "volume", "cli-boot", "available")["bootable"] in (True, "true")

    osc(cloud, "volume", "set", "--size", "2", "cli-empty")
    extended = wait_status(cloud, "volume", "cli-empty", "available")
    assert extended["size"] == 2

    osc(cloud, "volume", "snapshot", "create", "--volume", "cli-empty", "cli-snap")
    assert wait_status(cloud, "volume snapshot", "cli-snap", "available")["size"] == 2
    osc(cloud, "volume", "create", "--snapshot", "cli-snap", "--size", "3", "cli-from-snap")
    osc(cloud, "volume", "create", "--source", "cli-boot", "cli-clone")
    assert wait_status(cloud, "volume", "cli-from-snap", "available")["size"] == 3
    clone = wait_status(cloud, "volume", "cli-clone", "available")
    assert clone["size"] == 1 and clone["source_volid"]

    uploaded = osc_json(cloud, "image", "create", "--volume", "cli-boot", "--disk-format", "qcow2",
                        "cli-from-volume")  # fmt: skip
    assert uploaded["status"] == "uploading" and uploaded["image_id"]
    wait_status(cloud, "image", "cli-from-volume", "active")
    wait_status(cloud, "volume", "cli-boot", "available")

    names = sorted(v["Name"] for v in osc_json(cloud, "volume", "list"))
    assert names == ["cli-boot", "cli-clone", "cli-empty", "cli-from-snap"]
    assert [s["Name"] for s in osc_json(cloud, "volume", "snapshot", "list")] == ["cli-snap"]
    limits = osc_json(cloud, "limits", "show", "--absolute")
    rows = {r["Name"]: r["Value"] for r in limits}
    assert rows["total_volumes_used"] == 4 and rows["max_total_volumes"] == 10

    # Deleting a volume with snapshots, shrinking: refused with the reason.
    refused = osc(cloud, "volume", "delete", "cli-empty", check=False)
    assert refused.returncode != 0 and "snapshots" in refused.stderr
    shrink = osc(cloud, "volume", "set", "--size", "1", "cli-empty", check=False)
    assert shrink.returncode != 0

    osc(cloud, "volume", "snapshot", "delete", "cli-snap")
    wait_gone(cloud, "volume snapshot", "cli-snap")
    for name in ("cli-from-snap", "cli-clone", "cli-boot", "cli-empty"):
        osc(cloud, "volume", "delete", name)
    for name in ("cli-from-snap", "cli-clone", "cli-boot", "cli-empty"):
        wait_gone(cloud, "volume", name)
    assert osc_json(cloud, "volume", "list") == []


def test_volume_types(cloud: RunningCloud) -> None:
    osc(cloud, "volume", "type", "create", "--property", "multiattach=<is> True", "cli-gold")
    shown = osc_json(cloud, "volume", "type", "show", "cli-gold")
    assert "multiattach" in str(shown["properties"])
    osc(cloud, "volume", "create", "--size", "1", "--type", "cli-gold", "cli-typed")
    typed = wait_status(cloud, "volume", "cli-typed", "available")
    assert typed["type"] == "cli-gold" and typed["multiattach"] is True
    unknown = osc(cloud, "volume", "create", "--size", "1", "--type", "nope", "x", check=False)
    assert unknown.returncode != 0
    osc(cloud, "volume", "delete", "cli-typed")
    wait_gone(cloud, "volume", "cli-typed")
    osc(cloud, "volume", "type", "delete", "cli-gold")
