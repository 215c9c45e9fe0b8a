"""/servers/{id}/os-volume_attachments: Nova's view of a server's volumes
(what `openstack server add volume`, `server volume list` and `server remove
volume` call).

Nova keeps no attachments of its own here: the list is read from the block
storage read model, the same rows Cinder's attachments and a volume's
`attachments` come from, so the two services cannot disagree. POST and
DELETE dispatch the volume commands that the compute agent then carries out
(hot-plug, unplug) and reports on.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.common.errors import ApiError
from api.common.http import Call, json_response
from api.compute.servers import ServerApi
from api.compute.support import (
    ComputeDeps,
    bad_request,
    body_of,
    caller,
    dispatch,
    not_found,
    wrap,
)
from commands.volume.attachments import AttachVolumeToServer, RequestDetach
from domain.compute.states import server_status
from projections.volume.queries import VolumeQueries

Doc = dict[str, Any]

# Nova lets volumes be attached to and detached from servers in these states
# only (its compute API's check_instance_state for attach_volume).
ATTACHABLE = ("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED", "SHELVED", "SHELVED_OFFLOADED")


def _uuid(value: object, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as error:
        raise bad_request(f"Invalid input for field/attribute {what}. Value: {value}.") from error


def render(attachment: Doc) -> Doc:
    """Nova's shape up to 2.60 (the highest microversion served): the tag
    (2.70) and delete_on_termination (2.79) fields do not exist yet."""
    return {
        "id": attachment["volume_id"],
        "serverId": attachment["server_id"],
        "volumeId": attachment["volume_id"],
        # Until the agent reports the disk plugged, the device asked for (or
        # none): Nova answers a POST the same way, before the guest sees it.
        "device": attachment.get("mountpoint"),
    }


class VolumeAttachmentApi:
    def __init__(self, deps: ComputeDeps, servers: ServerApi) -> None:
        self.deps = deps
        self.servers = servers
        self.volumes = VolumeQueries(deps.queries.db)

    def routes(self) -> list[Route]:
        base = "/v2.1/servers/{id}/os-volume_attachments"
        return [
            Route(base, wrap(self.list), methods=["GET"]),
            Route(base, wrap(self.create), methods=["POST"]),
            Route(base + "/{volume_id}", wrap(self.show), methods=["GET"]),
            Route(base + "/{volume_id}", wrap(self.delete), methods=["DELETE"]),
        ]

    def _of_server(self, server_id: str) -> list[Doc]:
        return self.volumes.attachments({"server_id": server_id})

    def _one(self, server_id: str, volume_id: str) -> Doc:
        for attachment in self._of_server(server_id):
            if attachment["volume_id"] == volume_id:
                return attachment
        raise not_found(f"volume_id not found: {volume_id}")

    def list(self, call: Call) -> Response:
        who = caller(self.deps, call)
        server = self.servers.visible(who, call.path["id"])
        found = [render(a) for a in self._of_server(server["id"])]
        return json_response({"volumeAttachments": found})

    def show(self, call: Call) -> Response:
        who = caller(self.deps, call)
        server = self.servers.visible(who, call.path["id"])
        attachment = self._one(server["id"], call.path["volume_id"])
        return json_response({"volumeAttachment": render(attachment)})

    def _require_state(self, server: Doc, action: str) -> None:
        status = server_status(server["vm_state"], server["task_state"])
        if status not in ATTACHABLE or server["task_state"] is not None:
            state = server["task_state"] or server["vm_state"]
            raise ApiError(
                409,
                f"Cannot '{action}' instance {server['id']} while it is in "
                f"{'task_state' if server['task_state'] else 'vm_state'} {state}",
            )

    def create(self, call: Call) -> Response:
        who = caller(self.deps, call)
        server = self.servers.visible(who, call.path["id"])
        body = body_of(call, "volumeAttachment")
        volume_id = _uuid(body.get("volumeId"), "volumeId")
        device = body.get("device")
        if device is not None and not isinstance(device, str):
            raise bad_request(f"Invalid input for field/attribute device. Value: {device}.")
        volume = self.volumes.volume(str(volume_id), None if who.is_admin else who.project_id)
        if volume is None:
            raise not_found(f"Volume {volume_id} could not be found.")
        self._require_state(server, "attach_volume")
        # Nova refuses a busy volume with 409 before asking Cinder (whose own
        # refusal would be a 400): checked here on the read model, and again
        # by the domain inside the transaction, which is what really decides.
        if volume["status"] != "available" and not volume.get("multiattach"):
            raise ApiError(
                409,
                f"Invalid volume: volume {volume_id} status must be 'available'. "
                f"Currently in '{volume['status']}'",
            )
        command = AttachVolumeToServer(
            volume_id=volume_id, server_id=uuid.UUID(server["id"]), device=device or None
        )
        outcome = dispatch(self.deps, who, command)
        attachment = self.volumes.attachment(str(outcome["id"]), None) or {
            "id": str(outcome["id"]),
            "volume_id": str(volume_id),
            "server_id": server["id"],
            "mountpoint": device,
        }
        return json_response({"volumeAttachment": render(attachment)})

    def delete(self, call: Call) -> Response:
        who = caller(self.deps, call)
        server = self.servers.visible(who, call.path["id"])
        attachment = self._one(server["id"], call.path["volume_id"])
        self._require_state(server, "detach_volume")
        for recorded in server["body"].get("volumes", []):
            if recorded["id"] == attachment["volume_id"] and recorded.get("boot_index") == 0:
                raise bad_request("Cannot detach a root device volume")
        command = RequestDetach(
            volume_id=uuid.UUID(attachment["volume_id"]),
            attachment_id=uuid.UUID(attachment["id"]),
        )
        dispatch(self.deps, who, command)
        return Response(status_code=202)
