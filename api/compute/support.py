"""What every compute endpoint needs: Nova's error bodies, the caller, the
microversion, dispatch, and Nova's time formats."""

from __future__ import annotations

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
from projections.compute.queries import ComputeQueries
from projections.network.queries import NetworkQueries
from projections.volume.queries import VolumeQueries

NOVA_FAULTS = {
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


def nova_error(status: int, message: str) -> dict[str, Any]:
    return {NOVA_FAULTS.get(status, "computeFault"): {"code": status, "message": message}}


@dataclass
class ComputeDeps:
    bus: CommandBus
    queries: ComputeQueries
    network: NetworkQueries
    authenticator: Authenticator
    base_url: str
    volumes: VolumeQueries  # the block-storage quota a boot from volume spends


Caller = VersionedCaller


def caller(deps: ComputeDeps, call: Call) -> Caller:
    ctx = context_of(call, token_of(deps.authenticator, call))
    return Caller(ctx, call.request.state.version)


def dispatch(deps: ComputeDeps, who: Caller, command: Command) -> Outcome:
    return deps.bus.dispatch(command, who.ctx).outcome


def wrap(func: SyncEndpoint) -> Callable[[Request], Awaitable[Response]]:
    return endpoint(func, nova_error)


def forbidden(rule: str) -> ApiError:
    return ApiError(403, f"Policy doesn't allow {rule} to be performed.")


def require_admin(who: Caller, rule: str) -> None:
    if not who.is_admin:
        raise forbidden(rule)


def not_found(message: str = "The resource could not be found.") -> ApiError:
    return ApiError(404, message)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def body_of(call: Call, key: str) -> dict[str, Any]:
    if not isinstance(call.body, dict) or not isinstance(call.body.get(key), dict):
        raise bad_request(
            f"Invalid input for field/attribute {key}. Value: None. None is not of type 'object'"
        )
    return dict(call.body[key])


def min_version(who: Caller, version: str) -> None:
    """Routes added in a later microversion are 404s below it, as in Nova."""
    if not who.at_least(version):
        raise not_found()


def limit_of(call: Call, maximum: int = 1000) -> int:
    text = call.query.get("limit")
    if text is None:
        return maximum
    try:
        value = int(text)
    except ValueError as error:
        raise bad_request(f"Invalid input for query parameters limit. Value: {text}.") from error
    if value < 0:
        raise bad_request(f"Invalid input for query parameters limit. Value: {text}.")
    return min(value, maximum)


def nova_time(stored: str | None) -> str | None:
    """`2026-11-21T02:15:30Z` (servers' created/updated, faults)."""
    return stored[:19] + "Z" if stored else None


def micro_time(stored: str | None) -> str | None:
    """`2026-11-21T02:15:30.123456` (launched_at, actions, key pairs): no zone."""
    return stored.rstrip("Z") if stored else None


def links(base: str, collection: str, ident: str) -> list[dict[str, str]]:
    return [
        {"rel": "self", "href": f"{base}/v2.1/{collection}/{ident}"},
        {"rel": "bookmark", "href": f"{base}/{collection}/{ident}"},
    ]
