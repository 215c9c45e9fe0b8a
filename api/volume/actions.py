"""POST /volumes/{id}/action: extend, reset status, bootable, upload to an image."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.common.http import Call, json_response
from api.volume.support import (
    Caller,
    VolumeDeps,
    bad_request,
    caller,
    cinder_time,
    dispatch,
    flag,
    integer,
    require_admin,
    uid,
    wrap,
)
from api.volume.volumes import VolumeApi
from commands.volume.uploads import UploadVolumeToImage
from commands.volume.volumes import ExtendVolume, ResetVolumeStatus, SetVolumeBootable


class VolumeActionApi:
    def __init__(self, deps: VolumeDeps, volumes: VolumeApi) -> None:
        self.deps = deps
        self.volumes = volumes

    def routes(self) -> list[Route]:
        return [Route("/v3/{project_id}/volumes/{id}/action", wrap(self.act), methods=["POST"])]

    def act(self, call: Call) -> Response:
        who = caller(self.deps, call)
        if not isinstance(call.body, dict) or len(call.body) != 1:
            raise bad_request("Invalid request body: exactly one action must be given.")
        ((name, args),) = call.body.items()
        volume_id = uid(call.path["id"], "Volume")
        self.volumes.visible(who, str(volume_id))
        args = args if isinstance(args, dict) else {}
        if name == "os-extend":
            new_size = integer(args.get("new_size"), "new_size")
            dispatch(self.deps, who, ExtendVolume(volume_id=volume_id, new_size=new_size))
        elif name == "os-reset_status":
            require_admin(who, "volume_extension:volume_admin_actions:reset_status")
            status = args.get("status")
            if not isinstance(status, str):
                raise bad_request("Invalid input received: Must specify 'status'.")
            command: Any = ResetVolumeStatus(volume_id=volume_id, status=status.lower())
            dispatch(self.deps, who, command)
        elif name == "os-set_bootable":
            if "bootable" not in args:
                raise bad_request("Invalid input received: Must specify bootable in request.")
            bootable = flag(args["bootable"], "bootable")
            dispatch(self.deps, who, SetVolumeBootable(volume_id=volume_id, bootable=bootable))
            return Response(status_code=200)
        elif name == "os-volume_upload_image":
            return self._upload(who, volume_id, args)
        else:
            raise bad_request(f"There is no such action: {name}")
        return Response(status_code=202)

    def _upload(self, who: Caller, volume_id: uuid.UUID, args: dict[str, Any]) -> Response:
        image_name = args.get("image_name")
        if not isinstance(image_name, str) or not image_name:
            raise bad_request("Invalid input received: image_name is required.")
        if flag(args.get("force", False), "force"):
            # Copying the disk of a running guest needs the hypervisor's help.
            raise bad_request(
                "Invalid input received: uploading an attached volume is not supported."
            )
        values: dict[str, Any] = {
            "image_name": image_name,
            "disk_format": args.get("disk_format") or "raw",
            "container_format": args.get("container_format") or "bare",
            "visibility": args.get("visibility") or "private",
            "protected": flag(args.get("protected", False), "protected"),
        }
        outcome = dispatch(self.deps, who, UploadVolumeToImage(volume_id=volume_id, **values))
        doc = self.volumes.visible(who, str(volume_id))
        body = {
            "id": doc["id"],
            "updated_at": cinder_time(doc["updated_at"]),
            "status": doc["status"],
            "display_description": doc.get("description"),
            "size": doc["size"],
            "volume_type": doc.get("volume_type"),
            "image_id": str(outcome["image_id"]),
            **values,
        }
        return json_response({"os-volume_upload_image": body}, 202)
