"""Create, change, tag, (de)activate and delete images."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import Field

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.image.support import actor_of, visible_image
from commands.unit_of_work import UnitOfWork
from domain.errors import Conflict
from domain.image.images import Image


class CreateImage(Command):
    image_id: UUID | None = None
    owner: str | None = None
    name: str | None = None
    visibility: str = "shared"
    protected: bool = False
    os_hidden: bool = False
    disk_format: str | None = None
    container_format: str | None = None
    min_disk: int = 0
    min_ram: int = 0
    tags: list[str] = Field(default_factory=list)
    properties: dict[str, str] = Field(default_factory=dict)


class UpdateImage(Command):
    """New values of the attributes that change; `properties` is the whole
    new property map (the API applies a JSON patch to the old one)."""

    image_id: UUID
    changes: dict[str, Any]


class DeleteImage(Command):
    image_id: UUID


class DeactivateImage(Command):
    image_id: UUID


class ReactivateImage(Command):
    image_id: UUID


class AddImageTag(Command):
    image_id: UUID
    tag: str


class RemoveImageTag(Command):
    image_id: UUID
    tag: str


@handler(CreateImage)
def create_image(cmd: CreateImage, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    actor = actor_of(ctx)
    if cmd.image_id is not None and uow.get_any(Image, cmd.image_id) is not None:
        raise Conflict(f"Image with identifier {cmd.image_id} already exists!")
    values = cmd.model_dump(exclude={"image_id"})
    values["owner"] = cmd.owner or actor.project_id
    image = Image.create(actor, cmd.image_id, **values)
    uow.add(image)
    return {"id": image.id}


@handler(UpdateImage)
def update_image(cmd: UpdateImage, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    actor = actor_of(ctx)
    image = visible_image(uow, cmd.image_id, actor)
    image.update(actor, **cmd.changes)
    return {"id": image.id}


@handler(DeleteImage)
def delete_image(cmd: DeleteImage, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    actor = actor_of(ctx)
    image = visible_image(uow, cmd.image_id, actor)
    image.delete_by(actor)
    return {"id": image.id}


@handler(DeactivateImage)
def deactivate_image(
    cmd: DeactivateImage, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    actor = actor_of(ctx)
    visible_image(uow, cmd.image_id, actor).deactivate(actor)
    return {"id": cmd.image_id}


@handler(ReactivateImage)
def reactivate_image(
    cmd: ReactivateImage, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    actor = actor_of(ctx)
    visible_image(uow, cmd.image_id, actor).reactivate(actor)
    return {"id": cmd.image_id}


@handler(AddImageTag)
def add_image_tag(cmd: AddImageTag, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    actor = actor_of(ctx)
    visible_image(uow, cmd.image_id, actor).add_tag(actor, cmd.tag)
    return {"id": cmd.image_id}


@handler(RemoveImageTag)
def remove_image_tag(
    cmd: RemoveImageTag, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    actor = actor_of(ctx)
    visible_image(uow, cmd.image_id, actor).remove_tag(actor, cmd.tag)
    return {"id": cmd.image_id}
