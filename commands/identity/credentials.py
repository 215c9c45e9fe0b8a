"""Application credentials and token revocation."""

from __future__ import annotations

import secrets
from datetime import datetime
from uuid import UUID

from pydantic import Field

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.identity.names import claim, release
from commands.identity.tenancy import revocation
from commands.unit_of_work import UnitOfWork
from domain.errors import Forbidden, InvalidInput
from domain.identity.credentials import ApplicationCredential
from domain.identity.projects import Project
from domain.identity.users import User


class CreateApplicationCredential(Command):
    user_id: UUID
    project_id: UUID
    name: str
    description: str = ""
    secret: str | None = None
    role_ids: list[UUID]
    # Roles the creator holds on the project now; decided by the API from
    # the token, passed as a fact so the handler can refuse escalation.
    creator_role_ids: list[UUID]
    expires_at: datetime | None = None
    unrestricted: bool = False
    access_rules: list[dict[str, str]] = Field(default_factory=list)


class DeleteApplicationCredential(Command):
    user_id: UUID
    credential_id: UUID


class RevokeToken(Command):
    audit_id: str


@handler(CreateApplicationCredential)
def create_application_credential(
    cmd: CreateApplicationCredential, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    user = uow.require(User, cmd.user_id, "user")
    uow.require(Project, cmd.project_id, "project")
    missing = set(cmd.role_ids) - set(cmd.creator_role_ids)
    if missing:
        raise Forbidden("An application credential cannot have roles its creator lacks.")
    if not cmd.role_ids:
        raise InvalidInput("An application credential needs at least one role.")
    secret = cmd.secret or secrets.token_urlsafe(64)
    credential = ApplicationCredential(
        user_id=user.id,
        project_id=cmd.project_id,
        name=cmd.name,
        description=cmd.description,
        secret_hash=deps.passwords.hash(secret),
        role_ids=list(cmd.role_ids),
        expires_at=cmd.expires_at,
        unrestricted=cmd.unrestricted,
        access_rules=cmd.access_rules,
    )
    claim(
        uow,
        "app_credential",
        user.id.hex,
        credential.name,
        credential.id,
        "application credential",
    )
    uow.add(credential)
    return {"id": credential.id, "secret": secret}


@handler(DeleteApplicationCredential)
def delete_application_credential(
    cmd: DeleteApplicationCredential, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    credential = uow.require(ApplicationCredential, cmd.credential_id, "application credential")
    if credential.user_id != cmd.user_id:
        raise Forbidden("That application credential belongs to another user.")
    credential.delete()
    release(uow, "app_credential", credential.user_id.hex, credential.name, credential.id)
    uow.add(
        revocation(
            application_credential_id=credential.id,
            reason="application credential deleted",
        )
    )
    return {"id": credential.id}


@handler(RevokeToken)
def revoke_token(cmd: RevokeToken, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    uow.add(revocation(audit_id=cmd.audit_id, reason="token revoked"))
    return {"audit_id": cmd.audit_id}
