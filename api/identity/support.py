"""What every identity endpoint needs: the caller's token, policy, dispatch, lists."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from api.common.auth import context_of, token_of
from api.common.errors import ApiError
from api.common.http import Call
from api.identity.authn import Authenticator, ValidToken
from commands.bus import Command, CommandBus, Result
from commands.context import Context
from domain.identity.ids import parse_id
from projections.identity.queries import IdentityQueries
from projections.runner import ProjectionRunner

TRUE_STRINGS = {"true", "1", "yes", "on"}


@dataclass
class IdentityDeps:
    bus: CommandBus
    queries: IdentityQueries
    authenticator: Authenticator
    runner: ProjectionRunner
    base_url: str


def caller(deps: IdentityDeps, call: Call) -> ValidToken:
    return token_of(deps.authenticator, call)


def forbidden(action: str) -> ApiError:
    return ApiError(403, f"You are not authorized to perform the requested action: {action}.")


def require_admin(token: ValidToken, action: str) -> None:
    if not token.is_admin:
        raise forbidden(action)


def require(condition: bool, action: str) -> None:
    if not condition:
        raise forbidden(action)


def context(call: Call, token: ValidToken | None) -> Context:
    return context_of(call, token)


def dispatch(deps: IdentityDeps, call: Call, token: ValidToken | None, command: Command) -> Result:
    return deps.bus.dispatch(command, context(call, token))


def uuid_or_404(text: str, kind: str) -> UUID:
    value = parse_id(text)
    if value is None:
        raise ApiError(404, f"Could not find {kind}: {text}.")
    return value


def body_of(call: Call, key: str) -> dict[str, Any]:
    if not isinstance(call.body, dict) or not isinstance(call.body.get(key), dict):
        raise ApiError(400, f"Expecting to find {key} in request body.")
    return dict(call.body[key])


def flag(call: Call, name: str) -> bool:
    """Keystone flags: present means true, unless the value is `0`."""
    return name in call.query and call.query[name] != "0"


def bool_filter(value: str) -> bool:
    return value.strip().lower() in TRUE_STRINGS


def page(call: Call, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`marker` (an id) and `limit`, over rows already in a stable order."""
    marker = call.query.get("marker")
    if marker:
        ids = [r["id"] for r in rows]
        rows = rows[ids.index(marker) + 1 :] if marker in ids else []
    limit = call.query.get("limit")
    if limit:
        try:
            count = int(limit)
        except ValueError as error:
            raise ApiError(400, "limit must be an integer.") from error
        if count < 0:
            raise ApiError(400, "limit must not be negative.")
        rows = rows[:count]
    return rows


def list_links(call: Call) -> dict[str, Any]:
    return {"self": str(call.request.url), "previous": None, "next": None}


Renderer = Callable[[dict[str, Any], str], dict[str, Any]]
