"""Sharing an image with other projects, and their answer."""

from __future__ import annotations

from uuid import UUID

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.image.support import actor_of, visible_image
from commands.unit_of_work import UnitOfWork


class AddImageMember(Command):
    image_id: UUID
    member: str


class UpdateImageMember(Command):
    image_id: UUID
    member: str
    status: str


class RemoveImageMember(Command):
    image_id: UUID
    member: str


@handler(AddImageMember)
def add_member(cmd: AddImageMember, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    actor = actor_of(ctx)
    visible_image(uow, cmd.image_id, actor).add_member(actor, cmd.member)
    return {"id": cmd.image_id, "member": cmd.member}


@handler(UpdateImageMember)
def update_member(
    cmd: UpdateImageMember, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    actor = actor_of(ctx)
    visible_image(uow, cmd.image_id, actor).set_member_status(actor, cmd.member, cmd.status)
    return {"id": cmd.image_id, "member": cmd.member}


@handler(RemoveImageMember)
def remove_member(
    cmd: RemoveImageMember, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    actor = actor_of(ctx)
    visible_image(uow, cmd.image_id, actor).remove_member(actor, cmd.member)
    return {"id": cmd.image_id, "member": cmd.member}
