"""Boot from volume through Nova's HTTP API: a table of bad
block_device_mapping_v2 requests, each a 400 in Nova's format that writes
nothing, and how a volume-backed server shows (image "", its volumes in
os-extended-volumes:volumes_attached per microversion, waiting in BUILD with
task block_device_mapping while its volume is made)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from commands.context import SYSTEM_CONTEXT
from commands.volume.agent import RegisterStorageHost
from runtime import registry
from tests.integration.test_compute_http import active_image, compute_env
from tests.integration.test_network_http import serving
from tests.integration.test_volume_api import VolumeEnv

MISSING = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VolumeEnv]:
    for env in compute_env(Path(tmp_path_factory.mktemp("bfv-http"))):
        folder = str(env.cloud.settings.data_dir / "volumes")
        env.cloud.bus.dispatch(
            RegisterStorageHost(hostname="node-1", volumes_dir=folder), SYSTEM_CONTEXT
        )
        app = registry.APPS["block-storage"](env.cloud)
        with serving(app) as url, httpx.Client(base_url=url) as client:
            yield VolumeEnv(env, client)


@pytest.fixture(scope="module")
def refs(venv: VolumeEnv) -> dict[str, str]:
    env = venv.env
    flavor = env.admin.api.ok(
        "POST", "/v2.1/flavors", {"flavor": {"name": "bfv", "ram": 64, "vcpus": 1, "disk": 1}}
    )["flavor"]["id"]
    plain = venv.volume()["id"]  # made empty: not bootable
    bootable = venv.volume(imageRef=env.image_id)["id"]
    busy = venv.volume()["id"]
    holder = venv.server()
    venv.env.cloud.runner.catch_up_all()
    # The holder is still building: attach through Cinder's attachments API.
    code, body = venv.alice(
        "POST",
        f"{venv.base}/attachments",
        {"attachment": {"volume_uuid": busy, "instance_uuid": holder}},
        **{"OpenStack-API-Version": "volume 3.60"},
    )
    assert code == 200, body
    return {
        "flavor": str(flavor),
        "plain": plain,
        "bootable": bootable,
        "busy": busy,
        "big_image": active_image(env.cloud, env.admin.ctx, size=3 * 1024**3),
    }


def _body(refs: dict[str, str], image_ref: Any, bdms: Any, net: str) -> dict[str, Any]:
    server: dict[str, Any] = {
        "name": "bfv",
        "flavorRef": refs["flavor"],
        "networks": [{"uuid": net}],
        "block_device_mapping_v2": bdms,
    }
    if image_ref is not None:
        server["imageRef"] = image_ref
    return {"server": server}


def image_volume(image: str, size: Any = 1, **extra: Any) -> dict[str, Any]:
    return {"uuid": image, "source_type": "image", "destination_type": "volume",
            "volume_size": size, "boot_index": 0, **extra}  # fmt: skip


def volume(ref: str, boot_index: Any = 0) -> dict[str, Any]:
    return {"uuid": ref, "source_type": "volume", "destination_type": "volume",
            "boot_index": boot_index}  # fmt: skip


BAD: list[tuple[str, Any, Any, str]] = [
    ("two boot devices", "", lambda r, i: [image_volume(i), volume(r["bootable"])],
     "Boot sequence for the instance"),
    ("bad source type", "", lambda r, i: [{**image_volume(i), "source_type": "disk"}],
     "source_type"),
    ("bad destination type", "", lambda r, i: [{**image_volume(i), "destination_type": "nfs"}],
     "destination_type"),
    ("image to volume without size", "", lambda r, i: [image_volume(i, None)],
     "need to have a non-zero size specified"),
    ("negative size", "", lambda r, i: [image_volume(i, -1)], "volume_size"),
    ("size not a number", "", lambda r, i: [image_volume(i, "big")], "volume_size"),
    ("volume smaller than the image", "", lambda r, i: [image_volume(r["big_image"], 1)],
     "Volume is smaller than the minimum size specified in image metadata"),
    ("unknown volume", "", lambda r, i: [volume(MISSING)], f"failed to get volume {MISSING}"),
    ("malformed volume id", "", lambda r, i: [volume("not-a-uuid")], "uuid"),
    ("volume not bootable", "", lambda r, i: [volume(r["plain"])], "is not bootable"),
    ("volume in use", None, lambda r, i: [volume(r["busy"], -1)], "status must be 'available'"),
    ("blank local disk", None, lambda r, i: [{"source_type": "blank",
                                             "destination_type": "local", "volume_size": 1}],
     "not supported"),
    ("volume to local", "", lambda r, i: [{**volume(r["bootable"]), "destination_type": "local"}],
     "Mapping volume to local is not supported"),
    ("bad boot_index", "", lambda r, i: [{**image_volume(i), "boot_index": "first"}],
     "boot_index"),
    ("bad delete_on_termination", "",
     lambda r, i: [image_volume(i, delete_on_termination="maybe")], "delete_on_termination"),
    ("not a list", "", lambda r, i: {"uuid": i}, "block_device_mapping_v2"),
    ("blank image, no boot device", "", lambda r, i: [], "Boot sequence for the instance"),
    ("blank volume without size", None,
     lambda r, i: [{"source_type": "blank", "destination_type": "volume", "boot_index": -1}],
     "need to have non-zero size"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "image_ref", "bdms", "message"), BAD, ids=[c[0] for c in BAD])
def test_bad_block_device_mappings(
    venv: VolumeEnv, refs: dict[str, str], what: str, image_ref: Any, bdms: Any, message: str
) -> None:
    env = venv.env
    db = env.cloud.db
    before = (
        db.query("SELECT count(*) AS n FROM compute_servers")[0]["n"],
        db.query("SELECT count(*) AS n FROM volume_volumes")[0]["n"],
        db.query("SELECT count(*) AS n FROM volume_attachments")[0]["n"],
    )
    image = image_ref if image_ref is not None else env.image_id
    body = _body(refs, image, bdms(refs, env.image_id), env.network_id)
    code, answer = env.alice.api("POST", "/v2.1/servers", body)
    assert code == 400, answer
    assert message in answer["badRequest"]["message"], answer
    env.cloud.runner.catch_up_all()
    after = (
        db.query("SELECT count(*) AS n FROM compute_servers")[0]["n"],
        db.query("SELECT count(*) AS n FROM volume_volumes")[0]["n"],
        db.query("SELECT count(*) AS n FROM volume_attachments")[0]["n"],
    )
    assert after == before


def test_a_volume_backed_server_as_nova_shows_it(venv: VolumeEnv, refs: dict[str, str]) -> None:
    env = venv.env
    bdms = [image_volume(env.image_id, delete_on_termination=True), volume(refs["bootable"], 1)]
    code, answer = env.alice.api("POST", "/v2.1/servers", _body(refs, "", bdms, env.network_id))
    assert code == 202, answer
    server_id = answer["server"]["id"]
    old = env.alice.api.ok("GET", f"/v2.1/servers/{server_id}")["server"]
    assert old["image"] == ""
    # Its new root volume is still being made: BUILD, block_device_mapping.
    assert (old["status"], old["OS-EXT-STS:task_state"]) == ("BUILD", "block_device_mapping")
    attached = old["os-extended-volumes:volumes_attached"]
    assert len(attached) == 2 and attached[1] == {"id": refs["bootable"]}
    root = attached[0]["id"]
    code, new = env.alice.api(
        "GET", f"/v2.1/servers/{server_id}", **{"OpenStack-API-Version": "compute 2.3"}
    )
    assert code == 200
    assert new["server"]["os-extended-volumes:volumes_attached"] == [
        {"id": root, "delete_on_termination": True},
        {"id": refs["bootable"], "delete_on_termination": False},
    ]
    # Nova's and Cinder's views are the same events.
    listed = env.alice.api.ok("GET", f"/v2.1/servers/{server_id}/os-volume_attachments")
    assert sorted(a["volumeId"] for a in listed["volumeAttachments"]) == sorted(
        [root, refs["bootable"]]
    )
    cinder = venv.alice("GET", f"{venv.base}/volumes/{root}", **{"OpenStack-API-Version":
                        "volume 3.60"})[1]["volume"]  # fmt: skip
    assert (cinder["status"], cinder["bootable"]) == ("creating", "true")
    code, found = venv.alice(
        "GET", f"{venv.base}/attachments", **{"OpenStack-API-Version": "volume 3.60"}
    )
    assert code == 200, found
    mine = {a["volume_id"]: a for a in found["attachments"] if a["instance"] == server_id}
    assert sorted(mine) == sorted([root, refs["bootable"]])
    # Made for the boot and not yet made: reserved; the existing one: connected.
    assert (mine[root]["status"], mine[refs["bootable"]]["status"]) == ("reserved", "attaching")
    # A server waiting for its volumes takes no other volume meanwhile.
    code, answer = env.alice.api(
        "POST",
        f"/v2.1/servers/{server_id}/os-volume_attachments",
        {"volumeAttachment": {"volumeId": refs["plain"]}},
    )
    assert code == 409, answer

    code, _ = env.alice.api("DELETE", f"/v2.1/servers/{server_id}")
    assert code == 204
    env.cloud.runner.catch_up_all()
    # delete_on_termination: the root goes (deleting); the other is free again.
    gone = venv.alice("GET", f"{venv.base}/volumes/{root}", **{"OpenStack-API-Version":
                      "volume 3.60"})  # fmt: skip
    assert gone[0] == 404 or gone[1]["volume"]["status"] == "deleting"
    kept = venv.alice("GET", f"{venv.base}/volumes/{refs['bootable']}", **{
        "OpenStack-API-Version": "volume 3.60"})[1]["volume"]  # fmt: skip
    assert (kept["status"], kept["attachments"]) == ("available", [])


def test_volumes_a_boot_makes_count_against_the_volume_quota(
    venv: VolumeEnv, refs: dict[str, str]
) -> None:
    env = venv.env
    db = env.cloud.db
    quotas = f"/v3/{env.admin.project_id}/os-quota-sets/{env.alice.project_id}"
    used = venv.alice.ok("GET", f"{venv.base}/os-quota-sets/{env.alice.project_id}?usage=true")
    gigabytes = used["quota_set"]["gigabytes"]["in_use"]
    venv.admin.ok("PUT", quotas, {"quota_set": {"gigabytes": gigabytes + 1}})
    try:
        before = db.query("SELECT count(*) AS n FROM volume_volumes")[0]["n"]
        # Two new 1 GiB volumes (the boot disk and a blank one) need 2 GiB.
        bdms = [
            image_volume(env.image_id),
            {"source_type": "blank", "destination_type": "volume", "volume_size": 1},
        ]
        body = _body(refs, "", bdms, env.network_id)
        code, answer = env.alice.api("POST", "/v2.1/servers", body)
        assert code == 403, answer
        assert answer["forbidden"]["message"] == "Volume resource quota exceeded"
        env.cloud.runner.catch_up_all()
        assert db.query("SELECT count(*) AS n FROM volume_volumes")[0]["n"] == before
        # One fits.
        body = _body(refs, "", [image_volume(env.image_id)], env.network_id)
        code, answer = env.alice.api("POST", "/v2.1/servers", body)
        assert code == 202, answer
    finally:
        venv.admin.ok("PUT", quotas, {"quota_set": {"gigabytes": 1000}})
