"""What every block storage endpoint needs: Cinder's error bodies, the caller
(with the project in the URL checked), the microversion, dispatch, times."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from api.common.auth import VersionedCaller, context_of, token_of
from api.common.errors import ApiError
from api.common.http import Call, SyncEndpoint, endpoint
from api.identity.authn import Authenticator
from commands.bus import Command, CommandBus, Outcome
from projections.volume.queries import VolumeQueries

CINDER_FAULTS = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}
TRUE = {"1", "t", "true", "on", "y", "yes"}
FALSE = {"0", "f", "false", "off", "n", "no"}


def cinder_error(status: int, message: str) -> dict[str, Any]:
    return {CINDER_FAULTS.get(status, "computeFault"): {"code": status, "message": message}}


@dataclass
class VolumeDeps:
    bus: CommandBus
    queries: VolumeQueries
    authenticator: Authenticator
    base_url: str


@dataclass(frozen=True)
class Caller(VersionedCaller):
    project_in_url: str

    def scope(self) -> str | None:
        """The project whose resources a read may see (None: all, for admins)."""
        return None if self.is_admin else self.project_id


def caller(deps: VolumeDeps, call: Call) -> Caller:
    ctx = context_of(call, token_of(deps.authenticator, call))
    project = call.path.get("project_id", "")
    if project and project != ctx.project_id and not ctx.is_admin:
        raise ApiError(400, "Malformed request url")
    return Caller(ctx, call.request.state.version, project)


def dispatch(deps: VolumeDeps, who: Caller, command: Command) -> Outcome:
    return deps.bus.dispatch(command, who.ctx).outcome


def wrap(func: SyncEndpoint) -> Callable[[Request], Awaitable[Response]]:
    return endpoint(func, cinder_error)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str = "The resource could not be found.") -> ApiError:
    return ApiError(404, message)


def require_admin(who: Caller, rule: str) -> None:
    if not who.is_admin:
        raise ApiError(403, f"Policy doesn't allow {rule} to be performed.")


def min_version(who: Caller, version: str) -> None:
    """Routes added in a later microversion are 404s below it, as in Cinder."""
    if not who.at_least(version):
        raise not_found()


def body_of(call: Call, key: str) -> dict[str, Any]:
    if not isinstance(call.body, dict) or not isinstance(call.body.get(key), dict):
        raise bad_request(f"Missing required element '{key}' in request body.")
    return dict(call.body[key])


def flag(value: Any, what: str) -> bool:
    """Cinder's `bool_from_string(strict=True)`: real booleans or their spellings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
        return value.strip().lower() in TRUE
    raise bad_request(f"Invalid input received: {what} must be a boolean, got '{value}'.")


def integer(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise bad_request(f"Invalid input received: {what} must be an integer.")
    try:
        number = int(value)
    except (TypeError, ValueError) as error:
        raise bad_request(f"Invalid input received: {what} must be an integer.") from error
    if isinstance(value, float) and value != number:
        raise bad_request(f"Invalid input received: {what} must be an integer.")
    return number


def limit_of(call: Call, maximum: int = 1000) -> int:
    text = call.query.get("limit")
    if text is None:
        return maximum
    try:
        value = int(text)
    except ValueError as error:
        raise bad_request(f"Invalid input received: limit must be an integer: {text}") from error
    if value < 0:
        raise bad_request("Invalid input received: limit must be >= 0")
    return min(value, maximum)


def cinder_time(stored: str | None) -> str | None:
    """`2026-11-21T02:15:30.123456`: microseconds, no zone (what clients parse)."""
    return stored.rstrip("Z") if stored else None


def self_links(base: str, project: str, collection: str, ident: str) -> list[dict[str, str]]:
    return [
        {"rel": "self", "href": f"{base}/v3/{project}/{collection}/{ident}"},
        {"rel": "bookmark", "href": f"{base}/{project}/{collection}/{ident}"},
    ]


def uid(text: Any, kind: str = "Resource") -> uuid.UUID:
    """An id from a path or body; one that is no UUID names nothing (404)."""
    try:
        return uuid.UUID(str(text))
    except ValueError as error:
        raise not_found(f"{kind} {text} could not be found.") from error
