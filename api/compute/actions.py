"""Server actions (start, stop, reboot, console output, createImage) and
instance actions."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.common.http import Call, json_response
from api.compute.create_image import create_image
from api.compute.servers import ServerApi
from api.compute.support import (
    Caller,
    ComputeDeps,
    bad_request,
    caller,
    dispatch,
    micro_time,
    not_found,
    wrap,
)
from commands.compute.servers import ServerAction

Doc = dict[str, Any]


class ActionApi:
    def __init__(self, deps: ComputeDeps, servers: ServerApi) -> None:
        self.deps = deps
        self.servers = servers

    def routes(self) -> list[Route]:
        base = "/v2.1/servers/{id}"
        return [
            Route(base + "/action", wrap(self.action), methods=["POST"]),
            Route(base + "/os-instance-actions", wrap(self.list_actions), methods=["GET"]),
            Route(
                base + "/os-instance-actions/{request_id}", wrap(self.show_action), methods=["GET"]
            ),
        ]

    def action(self, call: Call) -> Response:
        who = caller(self.deps, call)
        if not isinstance(call.body, dict) or len(call.body) != 1:
            raise bad_request("Malformed request body")
        ((name, args),) = call.body.items()
        doc = self.servers.visible(who, call.path["id"])
        server_id = uuid.UUID(doc["id"])
        if name in ("os-start", "os-stop"):
            command = ServerAction(
                server_id=server_id, action="start" if name == "os-start" else "stop"
            )
        elif name == "reboot":
            kind = (args or {}).get("type") if isinstance(args, dict) else None
            if not isinstance(kind, str) or kind.upper() not in ("SOFT", "HARD"):
                raise bad_request(f"Invalid input for field/attribute type. Value: {kind}.")
            command = ServerAction(
                server_id=server_id, action="reboot", hard=kind.upper() == "HARD"
            )
        elif name == "os-getConsoleOutput":
            return self._console(doc, args)
        elif name == "createImage":
            return create_image(self.deps, who, server_id, args)
        else:
            raise bad_request(f"There is no such action: {name}")
        dispatch(self.deps, who, command)
        return Response(status_code=202)

    def _console(self, doc: Doc, args: Any) -> Response:
        output = self.deps.queries.console(doc["id"])
        length = args.get("length") if isinstance(args, dict) else None
        if length not in (None, -1, "-1"):
            try:
                lines = int(length)
            except (TypeError, ValueError) as error:
                raise bad_request(
                    f"Invalid input for field/attribute length. Value: {length}."
                ) from error
            if lines < 0:
                raise bad_request(f"Invalid input for field/attribute length. Value: {length}.")
            output = "\n".join(output.splitlines()[-lines:]) if lines else ""
        return json_response({"output": output})

    def _server(self, who: Caller, server_id: str) -> Doc:
        doc = self.deps.queries.any_server(server_id)
        if doc is None or (doc["project_id"] != who.project_id and not who.is_admin):
            raise not_found(f"Instance {server_id} could not be found.")
        if doc["deleted"] and not who.at_least("2.21"):
            raise not_found(f"Instance {server_id} could not be found.")
        return doc

    def _view(self, who: Caller, row: Doc, with_events: bool) -> Doc:
        out: Doc = {
            "action": row["action"],
            "instance_uuid": row["server_id"],
            "message": row["message"],
            "project_id": row["project_id"],
            "request_id": row["request_id"],
            "start_time": micro_time(row["start_time"]),
            "user_id": row["user_id"],
        }
        if who.at_least("2.58"):
            out["updated_at"] = micro_time(row["updated_at"])
        if with_events:
            events = []
            for step in row["events"]:
                event = {
                    "event": step["event"],
                    "start_time": micro_time(step["start_time"]),
                    "finish_time": micro_time(step["finish_time"]),
                    "result": step["result"],
                }
                if who.is_admin:
                    # What went wrong (a failed snapshot's reason), where Nova
                    # shows admins its traceback.
                    event["traceback"] = step.get("traceback")
                events.append(event)
            out["events"] = events
        return out

    def list_actions(self, call: Call) -> Response:
        who = caller(self.deps, call)
        doc = self._server(who, call.path["id"])
        rows = self.deps.queries.actions(doc["id"])
        return json_response({"instanceActions": [self._view(who, r, False) for r in rows]})

    def show_action(self, call: Call) -> Response:
        who = caller(self.deps, call)
        doc = self._server(who, call.path["id"])
        for row in self.deps.queries.actions(doc["id"]):
            if row["request_id"] == call.path["request_id"]:
                return json_response({"instanceAction": self._view(who, row, True)})
        raise not_found(
            f"Action for request_id {call.path['request_id']} on instance {doc['id']} not found"
        )
