"""What every network endpoint needs: who calls, their scope, bodies, dispatch."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from api.common.auth import context_of, token_of
from api.common.http import Call
from api.identity.authn import Authenticator
from api.network.errors import NeutronApiError, bad_request
from commands.bus import Command, CommandBus, Outcome
from commands.context import Context
from domain.network.errors import NeutronNotFound
from projections.network.queries import NetworkQueries


@dataclass
class NetworkDeps:
    bus: CommandBus
    queries: NetworkQueries
    authenticator: Authenticator
    base_url: str


@dataclass(frozen=True)
class Caller:
    ctx: Context

    @property
    def is_admin(self) -> bool:
        return self.ctx.is_admin

    @property
    def scope(self) -> str | None:
        """The project whose resources a list shows; None: everything (admin)."""
        return None if self.ctx.is_admin else (self.ctx.project_id or "")

    @property
    def project_id(self) -> str:
        return self.ctx.project_id or ""


def caller(deps: NetworkDeps, call: Call) -> Caller:
    return Caller(context_of(call, token_of(deps.authenticator, call)))


def dispatch(deps: NetworkDeps, who: Caller, command: Command) -> Outcome:
    return deps.bus.dispatch(command, who.ctx).outcome


def body_of(call: Call, key: str) -> dict[str, Any]:
    if not isinstance(call.body, dict):
        raise bad_request("The request body must be a JSON object.")
    value = call.body.get(key)
    if not isinstance(value, dict):
        raise bad_request(f"Resource body required: expected '{key}' in the request body.")
    return dict(value)


def uuid_of(text: str, kind: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError as error:
        raise NeutronNotFound(kind, text) from error


def expected_revision(call: Call) -> int | None:
    """`If-Match: revision_number=N` (Neutron's revision-if-match extension)."""
    header = call.header("If-Match")
    if not header:
        return None
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "revision_number":
            try:
                return int(value)
            except ValueError as error:
                raise bad_request(f"Invalid If-Match revision: {value}") from error
    return None


def bulk_bodies(call: Call, singular: str, plural: str) -> list[dict[str, Any]] | None:
    """The items of a bulk create (`{"ports": [...]}`), or None for a single one."""
    if not isinstance(call.body, dict) or plural not in call.body or singular in call.body:
        return None
    items = call.body[plural]
    if not isinstance(items, list) or not items:
        raise bad_request(f"Resources required: '{plural}' must be a non-empty list.")
    if len(call.body) != 1:
        raise bad_request(
            f"Unrecognized attribute(s) '{', '.join(sorted(set(call.body) - {plural}))}'"
        )
    for item in items:
        if not isinstance(item, dict):
            raise bad_request(f"Resource body required: each item of '{plural}' must be an object.")
    return [dict(item) for item in items]


def check_quota(
    deps: NetworkDeps, project_id: str, resource: str, collection: str, adding: int = 1
) -> None:
    """Neutron's quota check: count what the project holds against its limit.

    It reads the projection, so two creations racing for the last unit may
    both pass (Neutron's own reservations allow the same); keeping quotas
    out of the write transaction keeps ports contending only on subnets.
    """
    limit, used = deps.queries.quota_usage(project_id, resource, collection)
    if limit >= 0 and used + adding > limit:
        raise NeutronApiError(409, f"Quota exceeded for resources: ['{resource}'].", "OverQuota")


# Neutron's default policy shows these only to admins.
ADMIN_ONLY_PREFIXES = ("provider:", "binding:host_id", "binding:vif_", "binding:profile")


def present(doc: dict[str, Any], who: Caller) -> dict[str, Any]:
    if who.is_admin:
        return doc
    return {k: v for k, v in doc.items() if not k.startswith(ADMIN_ONLY_PREFIXES)}


def floating_ips_through(deps: NetworkDeps, router_id: str) -> list[dict[str, Any]]:
    """Associated floating IPs a router translates (they pin its gateway and interfaces)."""
    return [
        f
        for f in deps.queries.select("floatingips", None)
        if f.get("router_id") == router_id and f.get("port_id")
    ]
