"""/v1/webhooks: register, list, show, delete, and the delivery log.

Admins see every webhook; a member sees and manages their project's.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.responses import Response
from starlette.routing import Route

from api.common.auth import context_of
from api.common.errors import ApiError
from api.common.http import Call, json_response
from api.events.support import Caller, EventsDeps, caller, int_param, limit_of, next_link
from commands.webhooks import DeleteWebhook, RegisterWebhook
from infra.database import Row
from projections.audit.webhooks import public_webhook


class WebhookApi:
    def __init__(self, deps: EventsDeps) -> None:
        self.deps = deps

    def routes(self, wrap: Any) -> list[Route]:
        return [
            Route("/v1/webhooks", wrap(self.create), methods=["POST"]),
            Route("/v1/webhooks", wrap(self.list), methods=["GET"]),
            Route("/v1/webhooks/{id}", wrap(self.show), methods=["GET"]),
            Route("/v1/webhooks/{id}", wrap(self.remove), methods=["DELETE"]),
            Route("/v1/webhooks/{id}/deliveries", wrap(self.deliveries), methods=["GET"]),
        ]

    def create(self, call: Call) -> Response:
        who = caller(self.deps, call)
        if not isinstance(call.body, dict) or not isinstance(call.body.get("webhook"), dict):
            raise ApiError(400, "Expecting to find webhook in request body.")
        command = RegisterWebhook.model_validate(call.body["webhook"])
        result = self.deps.bus.dispatch(command, context_of(call, who.token))
        row = self.deps.webhooks.get(result.outcome["id"].hex)
        if row is None:  # the projection is waited for after every write
            raise ApiError(500, "The webhook was registered but cannot be read back.")
        body = {**public_webhook(row)}
        if "secret" in result.outcome:
            body["secret"] = result.outcome["secret"]  # shown this once
        return json_response({"webhook": body}, status=201)

    def list(self, call: Call) -> Response:
        who = caller(self.deps, call)
        rows = self.deps.webhooks.all(who.project_id)
        return json_response({"webhooks": [public_webhook(r) for r in rows]})

    def show(self, call: Call) -> Response:
        return json_response({"webhook": public_webhook(self._visible(call)[1])})

    def remove(self, call: Call) -> Response:
        who, row = self._visible(call)
        command = DeleteWebhook(webhook_id=UUID(row["id"]))
        self.deps.bus.dispatch(command, context_of(call, who.token))
        return Response(status_code=204)

    def deliveries(self, call: Call) -> Response:
        _, row = self._visible(call)
        limit = limit_of(call)
        marker = int_param(call, "marker", 0, 0, 2**62)
        rows = self.deps.deliveries.deliveries(row["id"], limit=limit, after=marker)
        links: dict[str, Any] = {"self": str(call.request.url), "next": None}
        if len(rows) == limit:
            links["next"] = next_link(call, "marker", int(rows[-1]["notification_id"]))
        return json_response({"deliveries": rows, "links": links})

    def _visible(self, call: Call) -> tuple[Caller, Row]:
        who = caller(self.deps, call)
        try:
            webhook_id = UUID(call.path["id"]).hex
        except ValueError:
            webhook_id = ""
        row = self.deps.webhooks.get(webhook_id) if webhook_id else None
        if row is None or (who.project_id is not None and row["project_id"] != who.project_id):
            raise ApiError(404, f"Could not find webhook: {call.path['id']}.")
        return who, row
