"""Registering and removing webhooks; importing this module registers the handlers."""

from __future__ import annotations

import secrets
from uuid import UUID

from pydantic import Field

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.unit_of_work import UnitOfWork
from domain.errors import Forbidden
from domain.webhooks import Webhook


class RegisterWebhook(Command):
    url: str
    secret: str | None = None
    types: list[str] = Field(default_factory=list)
    project_id: UUID | None = None  # which project's events; None: all (admins)
    resource_id: UUID | None = None
    description: str = ""


class DeleteWebhook(Command):
    webhook_id: UUID


def _project(ctx: Context) -> UUID | None:
    try:
        return UUID(ctx.project_id) if ctx.project_id else None
    except ValueError:
        return None


@handler(RegisterWebhook)
def register_webhook(
    cmd: RegisterWebhook, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    own_project = _project(ctx)
    watched = cmd.project_id
    if not ctx.is_admin:
        # A member's webhook sees what the member may see: their project.
        if own_project is None:
            raise Forbidden("A webhook needs a project-scoped token.")
        if watched not in (None, own_project):
            raise Forbidden("A webhook may only watch its own project's events.")
        watched = own_project
    secret = cmd.secret or secrets.token_urlsafe(32)
    webhook = Webhook(
        url=cmd.url,
        secret=secret,
        project_id=own_project,
        user_id=ctx.user_id,
        types=cmd.types,
        filter_project_id=watched,
        filter_resource_id=cmd.resource_id,
        description=cmd.description,
    )
    uow.add(webhook)
    # The secret is shown once, on creation; it is never remembered for a
    # replayed idempotent request (the bus drops `secret*` outcome keys).
    return {"id": webhook.id, "secret": secret}


@handler(DeleteWebhook)
def delete_webhook(
    cmd: DeleteWebhook, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    webhook = uow.require(Webhook, cmd.webhook_id, "webhook")
    if not ctx.is_admin and (webhook.project_id is None or webhook.project_id != _project(ctx)):
        raise Forbidden("That webhook belongs to another project.")
    webhook.delete()
    return {"id": webhook.id}
