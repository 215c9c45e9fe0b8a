"""The block storage API over HTTP (the real composition root, real tokens):
version documents and microversions, Cinder's error bodies for a table of bad
requests, and the attachments flow against a real server record."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from commands.context import SYSTEM_CONTEXT
from commands.unit_of_work import UnitOfWork
from commands.volume.agent import (
    RegisterStorageHost,
    ReportAttachFailed,
    ReportVolumeAttached,
    ReportVolumeDetached,
    ReportVolumeProvisioned,
)
from commands.volume.attachments import (
    AttachVolumeToServer,
    CreateAttachment,
    RequestDetach,
    release_for_deleted_server,
)
from projections.volume.host_state import compute_volume_state
from runtime import registry
from tests.integration.test_compute_http import ComputeEnv, compute_env
from tests.integration.test_network_http import Api, serving

V = {"OpenStack-API-Version": "volume 3.60"}


class VolumeEnv:
    def __init__(self, env: ComputeEnv, client: httpx.Client) -> None:
        self.env = env
        self.client = client
        self.alice = Api(client, env.alice.api.token)
        self.bob = Api(client, env.bob.api.token)
        self.admin = Api(client, env.admin.api.token)
        self.base = f"/v3/{env.alice.project_id}"

    def volume(self, size: int = 1, **values: Any) -> dict[str, Any]:
        code, body = self.alice(
            "POST", f"{self.base}/volumes", {"volume": {"size": size, **values}}, **V
        )
        assert code == 202, body
        volume_id = body["volume"]["id"]
        self.env.cloud.bus.dispatch(ReportVolumeProvisioned(volume_id=volume_id), SYSTEM_CONTEXT)
        return dict(body["volume"])

    def server(self) -> str:
        flavor = self.env.admin.api.ok(
            "POST", "/v2.1/flavors",
            {"flavor": {"name": f"f-{uuid.uuid4().hex[:6]}", "ram": 64, "vcpus": 1, "disk": 1}},
        )["flavor"]["id"]  # fmt: skip
        body = {"server": {"name": "vm", "imageRef": self.env.image_id, "flavorRef": flavor,
                           "networks": [{"uuid": self.env.network_id}]}}  # fmt: skip
        code, answer = self.env.alice.api("POST", "/v2.1/servers", body)
        assert code == 202, answer
        return str(answer["server"]["id"])


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VolumeEnv]:
    for env in compute_env(Path(tmp_path_factory.mktemp("volume-api"))):
        folder = str(env.cloud.settings.data_dir / "volumes")
        env.cloud.bus.dispatch(
            RegisterStorageHost(hostname="node-1", volumes_dir=folder), SYSTEM_CONTEXT
        )
        app = registry.APPS["block-storage"](env.cloud)
        with serving(app) as url, httpx.Client(base_url=url) as client:
            yield VolumeEnv(env, client)


def test_version_documents_and_microversions(venv: VolumeEnv) -> None:
    root = venv.client.get("/")
    assert root.status_code == 300
    doc = root.json()["versions"][0]
    assert (doc["id"], doc["status"], doc["min_version"]) == ("v3.0", "CURRENT", "3.0")
    assert doc["version"] >= "3.60"
    assert venv.client.get("/v3/").json()["versions"][0]["links"][0]["rel"] == "self"
    code, _ = venv.alice("GET", f"{venv.base}/volumes", **V)
    answer = venv.client.get(
        f"{venv.base}/volumes", headers={"X-Auth-Token": venv.alice.token, **V}
    )
    assert code == 200 and answer.headers["OpenStack-API-Version"] == "volume 3.60"
    assert "OpenStack-API-Version" in answer.headers["Vary"]
    code, body = venv.alice(
        "GET", f"{venv.base}/volumes", **{"OpenStack-API-Version": "volume 3.999"}
    )
    assert code == 406 and "computeFault" in body
    code, body = venv.alice(
        "GET", f"{venv.base}/attachments", **{"OpenStack-API-Version": "volume 3.26"}
    )
    assert code == 404 and "itemNotFound" in body


@pytest.mark.parametrize(
    ("body", "status", "fault", "words"),
    [
        ({"volume": {"size": 0}}, 400, "badRequest", "greater than 0"),
        ({"volume": {"size": "big"}}, 400, "badRequest", "integer"),
        ({"volume": {}}, 400, "badRequest", "size"),
        ({"volume": {"size": 1, "volume_type": "gold"}}, 404, "itemNotFound", "gold"),
        (
            {"volume": {"size": 1, "snapshot_id": str(uuid.UUID(int=7))}},
            404,
            "itemNotFound",
            "Snapshot",
        ),
        ({"volume": {"size": 1, "imageRef": "nope"}}, 400, "badRequest", "image"),
        ({"volume": {"size": 1, "availability_zone": "mars"}}, 400, "badRequest", "mars"),
        ({"volume": {"size": 1, "multiattach": "maybe"}}, 400, "badRequest", "boolean"),
        ({"wrong": {}}, 400, "badRequest", "volume"),
    ],
)
def test_bad_creates_answer_in_cinders_format(
    venv: VolumeEnv, body: dict[str, Any], status: int, fault: str, words: str
) -> None:
    before = venv.env.cloud.store.max_notification_id()
    code, answer = venv.alice("POST", f"{venv.base}/volumes", body, **V)
    assert code == status, answer
    assert answer[fault]["code"] == status and words in answer[fault]["message"]
    assert venv.env.cloud.store.max_notification_id() == before  # nothing half-made


def test_actions_in_the_wrong_state_name_the_state(venv: VolumeEnv) -> None:
    code, body = venv.alice("POST", f"{venv.base}/volumes", {"volume": {"size": 1}}, **V)
    vid = body["volume"]["id"]  # still creating: no storage agent here
    code, answer = venv.alice(
        "POST", f"{venv.base}/volumes/{vid}/action", {"os-extend": {"new_size": 2}}, **V
    )
    assert code == 409 and "creating" in answer["conflictingRequest"]["message"]
    venv.env.cloud.bus.dispatch(ReportVolumeProvisioned(volume_id=vid), SYSTEM_CONTEXT)
    code, answer = venv.alice(
        "POST", f"{venv.base}/volumes/{vid}/action", {"os-extend": {"new_size": 1}}, **V
    )
    assert code == 400 and "greater than current size" in answer["badRequest"]["message"]
    code, answer = venv.alice(
        "POST", f"{venv.base}/volumes/{vid}/action", {"os-reset_status": {"status": "error"}}, **V
    )
    assert code == 403
    code, _ = venv.alice(
        "POST", f"{venv.base}/volumes/{vid}/action", {"os-set_bootable": {"bootable": "true"}}, **V
    )
    assert code == 200
    shown = venv.alice.ok("GET", f"{venv.base}/volumes/{vid}")["volume"]
    assert shown["bootable"] == "true" and shown["created_at"][-1] != "Z"
    code, _ = venv.alice(
        "POST",
        f"{venv.base}/volumes/{vid}/action",
        {"os-volume_upload_image": {"image_name": "x", "force": True}},
        **V,
    )
    assert code == 400  # the disk of a running guest cannot be copied yet
    code, answer = venv.bob("GET", f"/v3/{venv.env.bob.project_id}/volumes/{vid}", **V)
    assert code == 404 and "itemNotFound" in answer
    code, _ = venv.bob("GET", f"{venv.base}/volumes", **V)
    assert code == 400  # another project's URL


def test_attachments_flow_and_the_compute_hosts_view(venv: VolumeEnv) -> None:
    server, other = venv.server(), venv.server()
    vid = venv.volume()["id"]
    m = {"OpenStack-API-Version": "volume 3.44"}
    code, body = venv.alice(
        "POST",
        f"{venv.base}/attachments",
        {"attachment": {"volume_uuid": vid, "instance_uuid": server}},
        **m,
    )
    assert code == 200, body
    att = body["attachment"]
    assert att["status"] == "reserved"
    assert venv.alice.ok("GET", f"{venv.base}/volumes/{vid}")["volume"]["status"] == "reserved"
    code, body = venv.alice(
        "POST",
        f"{venv.base}/attachments",
        {"attachment": {"volume_uuid": vid, "instance_uuid": other}},
        **m,
    )
    assert code == 400 and "multiattach" in body["badRequest"]["message"]
    connector = {"host": "node-1", "initiator": "iqn.x", "mountpoint": "/dev/vdb"}
    code, body = venv.alice(
        "PUT", f"{venv.base}/attachments/{att['id']}", {"attachment": {"connector": connector}}, **m
    )
    assert code == 200, body
    assert body["attachment"]["connection_info"]["driver_volume_type"] == "file", body
    hosts_view = compute_volume_state(venv.env.cloud.db, "node-1")["attachments"]
    assert [(a["attachment_id"], a["status"]) for a in hosts_view] == [(att["id"], "attaching")]
    code, body = venv.alice("DELETE", f"{venv.base}/volumes/{vid}", **V)
    assert code == 409 and "attaching" in body["conflictingRequest"]["message"]
    code, _ = venv.alice(
        "POST", f"{venv.base}/attachments/{att['id']}/action", {"os-complete": None}, **m
    )
    assert code == 204
    volume = venv.alice.ok("GET", f"{venv.base}/volumes/{vid}")["volume"]
    assert volume["status"] == "in-use"
    assert [a["server_id"] for a in volume["attachments"]] == [server]
    code, body = venv.alice("DELETE", f"{venv.base}/attachments/{att['id']}", **m)
    assert code == 200 and body == {"attachments": []}
    assert venv.alice.ok("GET", f"{venv.base}/volumes/{vid}")["volume"]["status"] == "available"
    assert compute_volume_state(venv.env.cloud.db, "node-1")["attachments"] == []
    code, _ = venv.alice("DELETE", f"{venv.base}/volumes/{vid}", **V)
    assert code == 202


def test_types_quotas_and_limits(venv: VolumeEnv) -> None:
    body = {"volume_type": {"name": "gold", "extra_specs": {"multiattach": "<is> True"}}}
    code, answer = venv.alice("POST", f"{venv.base}/types", body, **V)
    assert code == 403
    created = venv.admin.ok("POST", f"/v3/{venv.env.admin.project_id}/types", body)["volume_type"]
    names = [t["name"] for t in venv.alice.ok("GET", f"{venv.base}/types")["volume_types"]]
    assert names == ["__DEFAULT__", "gold"]
    vol = venv.volume(volume_type="gold", multiattach=True)
    assert vol["volume_type"] == "gold" and vol["multiattach"] is True
    code, answer = venv.admin("DELETE", f"/v3/{venv.env.admin.project_id}/types/{created['id']}")
    assert code == 400 and "in use" in answer["badRequest"]["message"]
    admin_base = f"/v3/{venv.env.admin.project_id}"
    venv.admin.ok(
        "PUT",
        f"{admin_base}/os-quota-sets/{venv.env.alice.project_id}",
        {"quota_set": {"volumes": 50}},
    )
    quota = venv.alice.ok(
        "GET", f"{venv.base}/os-quota-sets/{venv.env.alice.project_id}?usage=true"
    )
    assert quota["quota_set"]["volumes"]["limit"] == 50
    limits = venv.alice.ok("GET", f"{venv.base}/limits")["limits"]["absolute"]
    assert limits["maxTotalVolumes"] == 50 and limits["totalVolumesUsed"] >= 1


def test_compute_agent_reports_move_attachments(venv: VolumeEnv) -> None:
    """The hot-plug side: what a compute agent sees and reports (no libvirt here)."""
    bus, system = venv.env.cloud.bus, SYSTEM_CONTEXT
    server, vid = venv.server(), venv.volume()["id"]
    attach = CreateAttachment(volume_id=vid, server_id=server, connector={"host": "node-1"})
    att = bus.dispatch(attach, venv.env.alice.ctx).outcome["id"]
    plugged = compute_volume_state(venv.env.cloud.db, "node-1")["attachments"]
    wanted = [a for a in plugged if a["attachment_id"] == att]
    assert wanted[0]["status"] == "attaching"
    assert wanted[0]["connection_info"]["data"]["device_path"].endswith(f"volume-{vid}.qcow2")
    bus.dispatch(
        ReportVolumeAttached(volume_id=vid, attachment_id=att, mountpoint="/dev/vdb"), system
    )
    shown = venv.alice.ok("GET", f"{venv.base}/volumes/{vid}")["volume"]
    assert shown["status"] == "in-use" and shown["attachments"][0]["device"] == "/dev/vdb"
    bus.dispatch(RequestDetach(volume_id=vid, attachment_id=att), venv.env.alice.ctx)
    assert venv.alice.ok("GET", f"{venv.base}/volumes/{vid}")["volume"]["status"] == "detaching"
    bus.dispatch(ReportVolumeDetached(volume_id=vid, attachment_id=att), system)
    assert venv.alice.ok("GET", f"{venv.base}/volumes/{vid}")["volume"]["status"] == "available"
    # A failed hot-plug gives the volume back, with the reason in the log.
    att2 = bus.dispatch(attach, venv.env.alice.ctx).outcome["id"]
    failed = ReportAttachFailed(volume_id=vid, attachment_id=att2, reason="libvirt said no")
    bus.dispatch(failed, system)
    assert venv.alice.ok("GET", f"{venv.base}/volumes/{vid}")["volume"]["status"] == "available"


def test_novas_path_attach_to_a_server_and_release_on_delete(venv: VolumeEnv) -> None:
    bus = venv.env.cloud.bus
    server, vid = venv.server(), venv.volume()["id"]
    attach = AttachVolumeToServer(volume_id=vid, server_id=server, device="/dev/vdc")
    att = bus.dispatch(attach, venv.env.alice.ctx).outcome["id"]
    view = compute_volume_state(venv.env.cloud.db, "node-1")["attachments"]
    mine = next(a for a in view if a["attachment_id"] == att)
    assert (mine["status"], mine["mountpoint"]) == ("attaching", "/dev/vdc")
    uow = UnitOfWork(venv.env.cloud.store)
    release_for_deleted_server(uow, uuid.UUID(vid), server)
    venv.env.cloud.store.save(uow.changed(), SYSTEM_CONTEXT.meta())
    venv.env.cloud.runner.catch_up_all()
    assert venv.alice.ok("GET", f"{venv.base}/volumes/{vid}")["volume"]["status"] == "available"
