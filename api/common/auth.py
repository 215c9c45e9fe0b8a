"""Who is calling: the Keystone token every Strata API checks, and the command context.

Every service (identity, network, compute, audit …) authenticates the same
way, through the identity service's `Authenticator`, so a revocation or a role
change counts everywhere at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.common.http import Call
from api.common.microversion import Version
from api.identity.authn import Authenticator, ValidToken, unauthorized
from commands.context import Context


def token_of(authenticator: Authenticator, call: Call) -> ValidToken:
    """The caller's validated token (401 when missing or no longer valid)."""
    token = call.header("X-Auth-Token")
    if not token:
        raise unauthorized()
    return authenticator.validate(token)


def context_of(call: Call, token: ValidToken | None) -> Context:
    """The metadata every event this call causes will carry."""
    if token is None:
        return Context(
            request_id=call.request_id,
            source=call.source,
            idempotency_key=call.idempotency_key,
        )
    return Context(
        user_id=token.user_id,
        project_id=token.payload.project_id,
        domain_id=token.payload.domain_id,
        roles=token.role_names,
        request_id=call.request_id,
        source=call.source,
        idempotency_key=call.idempotency_key,
    )


@dataclass(frozen=True)
class VersionedCaller:
    """Who calls a microversioned API (compute, block storage), and at which version."""

    ctx: Context
    version: Version

    @property
    def is_admin(self) -> bool:
        return self.ctx.is_admin

    @property
    def project_id(self) -> str:
        return self.ctx.project_id or ""

    @property
    def user_id(self) -> str:
        return self.ctx.user_id

    def at_least(self, version: str) -> bool:
        return self.version.at_least(version)
