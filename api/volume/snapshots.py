"""/snapshots: list, detail, show, create, update, delete, and reset status."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import Route

from api.common.errors import ApiError
from api.common.http import Call, json_response
from api.volume import render
from api.volume.support import (
    FALSE,
    Caller,
    VolumeDeps,
    bad_request,
    body_of,
    caller,
    dispatch,
    flag,
    limit_of,
    not_found,
    require_admin,
    uid,
    wrap,
)
from commands.volume.snapshots import (
    CreateSnapshot,
    DeleteSnapshot,
    ResetSnapshotStatus,
    UpdateSnapshot,
)

Doc = dict[str, Any]
BASE = "/v3/{project_id}/snapshots"


class SnapshotApi:
    def __init__(self, deps: VolumeDeps) -> None:
        self.deps = deps

    def routes(self) -> list[Route]:
        return [
            Route(BASE, wrap(self.list), methods=["GET"]),
            Route(BASE, wrap(self.create), methods=["POST"]),
            Route(BASE + "/detail", wrap(self.list), methods=["GET"]),
            Route(BASE + "/{id}", wrap(self.show), methods=["GET"]),
            Route(BASE + "/{id}", wrap(self.update), methods=["PUT"]),
            Route(BASE + "/{id}", wrap(self.delete), methods=["DELETE"]),
            Route(BASE + "/{id}/action", wrap(self.act), methods=["POST"]),
        ]

    def visible(self, who: Caller, snapshot_id: str) -> Doc:
        doc = self.deps.queries.snapshot(snapshot_id, who.scope())
        if doc is None:
            raise not_found(f"Snapshot {snapshot_id} could not be found.")
        return doc

    def list(self, call: Call) -> Response:
        who = caller(self.deps, call)
        q = call.query
        where: dict[str, Any] = {}
        if not (who.is_admin and q.get("all_tenants", "0").lower() not in FALSE):
            where["project_id"] = who.project_id
        for key in ("name", "status", "volume_id"):
            if q.get(key):
                where[key] = q[key]
        limit = limit_of(call)
        page, more = self.deps.queries.page("volume_snapshots", where, q.get("marker"), limit)
        body: Doc = {"snapshots": [render.snapshot(d, who) for d in page]}
        if page and more:
            query = {k: v for k, v in q.items() if k != "marker"} | {
                "limit": str(limit),
                "marker": page[-1]["id"],
            }
            href = f"{self.deps.base_url}{call.request.url.path}?{urlencode(query)}"
            body["snapshots_links"] = [{"rel": "next", "href": href}]
        return json_response(body)

    def show(self, call: Call) -> Response:
        who = caller(self.deps, call)
        return json_response({"snapshot": render.snapshot(self.visible(who, call.path["id"]), who)})

    def create(self, call: Call) -> Response:
        who = caller(self.deps, call)
        body = body_of(call, "snapshot")
        volume_id = body.get("volume_id")
        if (
            not isinstance(volume_id, str)
            or self.deps.queries.volume(volume_id, who.scope()) is None
        ):
            raise not_found(f"Volume {volume_id} could not be found.")
        limits = self.deps.queries.quota_limits(who.project_id)
        if 0 <= limits["snapshots"] <= self.deps.queries.usage(who.project_id)["snapshots"]:
            raise ApiError(
                413,
                f"SnapshotLimitExceeded: Maximum number of snapshots allowed "
                f"({limits['snapshots']}) exceeded",
            )
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise bad_request("Invalid input received: metadata must be a dictionary.")
        command = CreateSnapshot(
            volume_id=uid(volume_id),
            name=body.get("name") or body.get("display_name"),
            description=body.get("description") or body.get("display_description"),
            metadata=metadata,
            force=flag(body.get("force", False), "force"),
        )
        outcome = dispatch(self.deps, who, command)
        doc = self.visible(who, str(outcome["id"]))
        return json_response({"snapshot": render.snapshot(doc, who)}, 202)

    def update(self, call: Call) -> Response:
        who = caller(self.deps, call)
        self.visible(who, call.path["id"])
        body = body_of(call, "snapshot")
        command = UpdateSnapshot(
            snapshot_id=uid(call.path["id"]),
            name=body.get("name", body.get("display_name")),
            description=body.get("description", body.get("display_description")),
            metadata=body.get("metadata"),
        )
        dispatch(self.deps, who, command)
        return self.show(call)

    def delete(self, call: Call) -> Response:
        who = caller(self.deps, call)
        self.visible(who, call.path["id"])
        dispatch(self.deps, who, DeleteSnapshot(snapshot_id=uid(call.path["id"])))
        return Response(status_code=202)

    def act(self, call: Call) -> Response:
        who = caller(self.deps, call)
        self.visible(who, call.path["id"])
        body = call.body if isinstance(call.body, dict) else {}
        args = body.get("os-reset_status")
        if not isinstance(args, dict) or not isinstance(args.get("status"), str):
            raise bad_request("Invalid request body: expected os-reset_status with a status.")
        require_admin(who, "volume_extension:snapshot_admin_actions:reset_status")
        command = ResetSnapshotStatus(
            snapshot_id=uid(call.path["id"]), status=args["status"].lower()
        )
        dispatch(self.deps, who, command)
        return Response(status_code=202)
