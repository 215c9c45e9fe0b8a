"""/servers/{id}/metadata: a server's key/value metadata (what
`openstack server set --property` and `unset --property` call)."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.common.errors import ApiError
from api.common.http import Call, json_response
from api.compute.servers import ServerApi
from api.compute.support import ComputeDeps, bad_request, caller, dispatch, not_found, wrap
from commands.compute.servers import SetServerMetadata


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise bad_request("Invalid input for field/attribute metadata.")
    return dict(value)


class MetadataApi:
    def __init__(self, deps: ComputeDeps, servers: ServerApi) -> None:
        self.deps = deps
        self.servers = servers

    def routes(self) -> list[Route]:
        base = "/v2.1/servers/{id}/metadata"
        return [
            Route(base, wrap(self.show), methods=["GET"]),
            Route(base, wrap(self.merge), methods=["POST"]),
            Route(base, wrap(self.replace), methods=["PUT"]),
            Route(base + "/{key}", wrap(self.item), methods=["GET"]),
            Route(base + "/{key}", wrap(self.put_item), methods=["PUT"]),
            Route(base + "/{key}", wrap(self.delete_item), methods=["DELETE"]),
        ]

    def _set(self, call: Call, command: dict[str, Any]) -> dict[str, str]:
        who = caller(self.deps, call)
        doc = self.servers.visible(who, call.path["id"])
        metadata = command.get("metadata", {})
        limit = self.deps.queries.quota_limits(who.project_id)["metadata_items"]
        current = {} if command.get("replace") else doc["body"].get("metadata", {})
        if 0 <= limit < len({**current, **metadata}):
            raise ApiError(403, f"Maximum number of metadata items exceeds {limit}")
        outcome = dispatch(
            self.deps, who, SetServerMetadata(server_id=uuid.UUID(doc["id"]), **command)
        )
        return dict(outcome["metadata"])

    def _body(self, call: Call, key: str) -> dict[str, str]:
        return _strings(call.body.get(key) if isinstance(call.body, dict) else None)

    def show(self, call: Call) -> Response:
        who = caller(self.deps, call)
        doc = self.servers.visible(who, call.path["id"])
        return json_response({"metadata": doc["body"].get("metadata", {})})

    def merge(self, call: Call) -> Response:
        metadata = self._set(call, {"metadata": self._body(call, "metadata")})
        return json_response({"metadata": metadata})

    def replace(self, call: Call) -> Response:
        command = {"metadata": self._body(call, "metadata"), "replace": True}
        return json_response({"metadata": self._set(call, command)})

    def item(self, call: Call) -> Response:
        who = caller(self.deps, call)
        metadata = self.servers.visible(who, call.path["id"])["body"].get("metadata", {})
        if call.path["key"] not in metadata:
            raise not_found("Metadata item was not found")
        return json_response({"meta": {call.path["key"]: metadata[call.path["key"]]}})

    def put_item(self, call: Call) -> Response:
        meta = self._body(call, "meta")
        if list(meta) != [call.path["key"]]:
            raise bad_request("Request body and URI mismatch")
        self._set(call, {"metadata": meta})
        return json_response({"meta": meta})

    def delete_item(self, call: Call) -> Response:
        self._set(call, {"remove": [call.path["key"]]})
        return Response(status_code=204)
