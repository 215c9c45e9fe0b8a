"""What every events endpoint needs: dependencies, the caller's scope, parameters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from api.common.auth import token_of
from api.common.errors import ApiError
from api.common.http import Call
from api.identity.authn import Authenticator, ValidToken
from commands.bus import CommandBus
from infra.eventstore import EventStore
from projections.audit.feed import EventFeed
from projections.audit.owners import as_id
from projections.audit.queries import DEFAULT_LIMIT, MAX_LIMIT, AuditQueries, Visibility
from projections.audit.timetravel import parse_moment
from projections.audit.webhooks import WebhookQueries
from projections.runner import ProjectionRunner
from workers.webhooks.log import DeliveryLog


@dataclass
class EventsDeps:
    store: EventStore
    runner: ProjectionRunner
    bus: CommandBus
    authenticator: Authenticator
    audit: AuditQueries
    feed: EventFeed
    webhooks: WebhookQueries
    deliveries: DeliveryLog
    # How often the SSE hub looks for new events: SQLite cannot notify, and
    # one read for all subscribers keeps this cheap.
    poll_interval: float = 0.05
    keepalive_seconds: float = 15.0


@dataclass(frozen=True)
class Caller:
    token: ValidToken
    visibility: Visibility | None  # None: an admin

    @property
    def project_id(self) -> str | None:
        return self.visibility.project_id if self.visibility else None


def caller(deps: EventsDeps, call: Call) -> Caller:
    token = token_of(deps.authenticator, call)
    if token.is_admin:
        return Caller(token, None)
    project = token.payload.project_id
    if not project:
        raise ApiError(403, "Reading events needs a project-scoped token (or the admin role).")
    return Caller(token, Visibility(as_id(project) or project, as_id(token.user_id) or ""))


def project_filter(who: Caller, call: Call) -> str | None:
    """`project_id=`: any for admins; members may only name their own."""
    wanted = as_id(call.query.get("project_id"))
    if who.visibility is not None and wanted not in (None, who.visibility.project_id):
        raise ApiError(403, "You may only read the events of your own project.")
    return wanted


def limit_of(call: Call) -> int:
    return int_param(call, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)


def int_param(call: Call, name: str, default: int, low: int, high: int) -> int:
    text = call.query.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError as error:
        raise ApiError(400, f"{name} must be an integer.") from error
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}.")
    return value


def moment_param(call: Call, name: str) -> datetime | None:
    text = call.query.get(name)
    if not text:
        return None
    try:
        return parse_moment(text)
    except ValueError as error:
        raise ApiError(
            400, f"{name} must be an ISO-8601 time, e.g. 2026-01-31T12:00:00Z."
        ) from error


def resource_uuid(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError as error:
        raise ApiError(404, f"Could not find resource: {text}.") from error


def next_link(call: Call, key: str, value: int) -> str:
    query: dict[str, Any] = dict(call.query)
    query[key] = value
    return str(call.request.url.replace(query=urlencode(query)))
