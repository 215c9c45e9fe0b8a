"""/attachments (3.27+): create, list, show, update, complete (3.44), delete."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.common.http import Call, json_response
from api.volume import render
from api.volume.support import (
    Caller,
    VolumeDeps,
    bad_request,
    body_of,
    caller,
    dispatch,
    min_version,
    not_found,
    uid,
    wrap,
)
from commands.volume.attachments import (
    CompleteAttachment,
    CreateAttachment,
    DeleteAttachment,
    UpdateAttachment,
)

Doc = dict[str, Any]
BASE = "/v3/{project_id}/attachments"


class AttachmentApi:
    def __init__(self, deps: VolumeDeps) -> None:
        self.deps = deps

    def routes(self) -> list[Route]:
        return [
            Route(BASE, wrap(self.list_brief), methods=["GET"]),
            Route(BASE, wrap(self.create), methods=["POST"]),
            Route(BASE + "/detail", wrap(self.list_detail), methods=["GET"]),
            Route(BASE + "/{id}", wrap(self.show), methods=["GET"]),
            Route(BASE + "/{id}", wrap(self.update), methods=["PUT"]),
            Route(BASE + "/{id}", wrap(self.delete), methods=["DELETE"]),
            Route(BASE + "/{id}/action", wrap(self.act), methods=["POST"]),
        ]

    def _who(self, call: Call, version: str = "3.27") -> Caller:
        who = caller(self.deps, call)
        min_version(who, version)
        return who

    def visible(self, who: Caller, attachment_id: str) -> Doc:
        doc = self.deps.queries.attachment(attachment_id, who.scope())
        if doc is None:
            raise not_found(f"VolumeAttachment {attachment_id} could not be found.")
        return doc

    def _list(self, call: Call, detail: bool) -> Response:
        who = self._who(call)
        where: dict[str, Any] = {} if who.is_admin else {"project_id": who.project_id}
        for key, column in (("volume_id", "volume_id"), ("instance_id", "server_id")):
            if call.query.get(key):
                where[column] = call.query[key]
        docs = self.deps.queries.attachments(where)
        return json_response({"attachments": [render.attachment(d, detail) for d in docs]})

    def list_brief(self, call: Call) -> Response:
        return self._list(call, False)

    def list_detail(self, call: Call) -> Response:
        return self._list(call, True)

    def show(self, call: Call) -> Response:
        who = self._who(call)
        return json_response({"attachment": render.attachment(self.visible(who, call.path["id"]))})

    def create(self, call: Call) -> Response:
        who = self._who(call)
        body = body_of(call, "attachment")
        volume_id, server_id = body.get("volume_uuid"), body.get("instance_uuid")
        if (
            not isinstance(volume_id, str)
            or self.deps.queries.volume(volume_id, who.scope()) is None
        ):
            raise not_found(f"Volume {volume_id} could not be found.")
        if not isinstance(server_id, str):
            raise bad_request("Invalid input received: instance_uuid is required.")
        connector = body.get("connector")
        if connector is not None and not isinstance(connector, dict):
            raise bad_request("Invalid input received: connector must be a dictionary.")
        mode = body.get("mode", "rw") if who.at_least("3.54") else "rw"
        command = CreateAttachment(
            volume_id=uid(volume_id),
            server_id=uid(server_id, "Instance"),
            connector=connector or None,
            mode=mode,
        )
        outcome = dispatch(self.deps, who, command)
        doc = self.visible(who, str(outcome["id"]))
        return json_response({"attachment": render.attachment(doc)})

    def update(self, call: Call) -> Response:
        who = self._who(call)
        doc = self.visible(who, call.path["id"])
        body = body_of(call, "attachment")
        connector = body.get("connector")
        if not isinstance(connector, dict):
            raise bad_request("Invalid input received: connector is required.")
        command = UpdateAttachment(
            volume_id=uid(doc["volume_id"]), attachment_id=uid(doc["id"]), connector=connector
        )
        dispatch(self.deps, who, command)
        return json_response({"attachment": render.attachment(self.visible(who, doc["id"]))})

    def act(self, call: Call) -> Response:
        who = self._who(call, "3.44")
        doc = self.visible(who, call.path["id"])
        if not isinstance(call.body, dict) or "os-complete" not in call.body:
            raise bad_request("Invalid request body: the only action is os-complete.")
        command = CompleteAttachment(volume_id=uid(doc["volume_id"]), attachment_id=uid(doc["id"]))
        dispatch(self.deps, who, command)
        return Response(status_code=204)

    def delete(self, call: Call) -> Response:
        who = self._who(call)
        doc = self.visible(who, call.path["id"])
        command = DeleteAttachment(volume_id=uid(doc["volume_id"]), attachment_id=uid(doc["id"]))
        dispatch(self.deps, who, command)
        left = self.deps.queries.attachments({"volume_id": doc["volume_id"]})
        return json_response({"attachments": [render.attachment(d) for d in left]})
