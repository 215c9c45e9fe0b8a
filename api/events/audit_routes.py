"""Who did what, and what a resource looked like: /v1/audit and /v1/resources."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.common.errors import ApiError
from api.common.http import Call, json_response
from api.events.support import (
    Caller,
    EventsDeps,
    caller,
    int_param,
    limit_of,
    moment_param,
    next_link,
    project_filter,
    resource_uuid,
)
from infra.database import Row
from projections.audit.queries import AuditFilter
from projections.audit.timetravel import state_at


def audit_entry(row: Row) -> dict[str, Any]:
    """One audit row as the API spells it."""
    return {
        "id": int(row["notification_id"]),
        "time": row["occurred_at"],
        "type": row["event_type"],
        "service": row["service"],
        "resource_type": row["resource_type"],
        "resource_id": row["resource_id"],
        "version": int(row["version"]),
        "user_id": row["user_id"],
        "actor_project_id": row["actor_project_id"],
        "project_id": row["project_id"],
        "request_id": row["request_id"],
        "idempotency_key": row["idempotency_key"],
        "source": row["source"],
    }


def audit_filter(who: Caller, call: Call) -> AuditFilter:
    descending = call.query.get("order", "asc") == "desc"
    marker = int_param(call, "marker", 0, 0, 2**62)
    return AuditFilter(
        resource_id=call.query.get("resource_id") or None,
        project_id=project_filter(who, call),
        user_id=call.query.get("user_id") or None,
        request_id=call.query.get("request_id") or None,
        event_type=call.query.get("type") or None,
        resource_type=call.query.get("resource_type") or None,
        since=moment_param(call, "since"),
        until=moment_param(call, "until"),
        after=0 if descending else marker,
        before=(marker or None) if descending else None,
        limit=limit_of(call),
        descending=descending,
        visibility=who.visibility,
    )


class AuditApi:
    def __init__(self, deps: EventsDeps) -> None:
        self.deps = deps

    def routes(self, wrap: Any) -> list[Route]:
        return [
            Route("/v1/audit", wrap(self.audit), methods=["GET"]),
            Route("/v1/resources/{id}/history", wrap(self.history), methods=["GET"]),
            Route("/v1/resources/{id}", wrap(self.resource), methods=["GET"]),
        ]

    def audit(self, call: Call) -> Response:
        who = caller(self.deps, call)
        wanted = audit_filter(who, call)
        rows = self.deps.audit.search(wanted)
        links: dict[str, Any] = {"self": str(call.request.url), "next": None}
        if len(rows) == wanted.limit:
            links["next"] = next_link(call, "marker", int(rows[-1]["notification_id"]))
        return json_response({"events": [audit_entry(r) for r in rows], "links": links})

    def history(self, call: Call) -> Response:
        """Every event of one resource, oldest first, with what it changed."""
        who = caller(self.deps, call)
        resource = resource_uuid(call.path["id"]).hex
        wanted = AuditFilter(
            resource_id=resource,
            after=int_param(call, "marker", 0, 0, 2**62),
            limit=limit_of(call),
            visibility=who.visibility,
        )
        items = self.deps.feed.page(wanted)
        if not items and wanted.after == 0:
            raise ApiError(404, f"Could not find resource: {call.path['id']}.")
        links: dict[str, Any] = {"self": str(call.request.url), "next": None}
        if len(items) == wanted.limit:
            links["next"] = next_link(call, "marker", items[-1].id)
        history = [{**audit_entry(i.row), "data": i.envelope["data"]} for i in items]
        return json_response({"resource_id": resource, "history": history, "links": links})

    def resource(self, call: Call) -> Response:
        """The resource as it was at `at` (default: now), folded from its events."""
        who = caller(self.deps, call)
        resource = resource_uuid(call.path["id"])
        if who.visibility is not None and self.deps.audit.owner(resource.hex) != who.project_id:
            # Not "forbidden": another project's resource does not exist for you.
            raise ApiError(404, f"Could not find resource: {call.path['id']}.")
        at = moment_param(call, "at") or datetime.now(UTC)
        snapshot = state_at(self.deps.store, resource, at)
        if snapshot is None:
            raise ApiError(404, f"Could not find resource: {call.path['id']}.")
        return json_response({"resource": snapshot.to_dict()})
