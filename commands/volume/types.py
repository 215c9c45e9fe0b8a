"""Volume types (admin): create, update, extra specs, delete."""

from __future__ import annotations

import uuid

from pydantic import Field

from commands.bus import Command, Dependencies, Outcome, handler
from commands.compute.support import release_name, take_name
from commands.context import Context
from commands.unit_of_work import UnitOfWork
from commands.volume.support import TYPE_NAME_CLAIM, type_not_found
from domain.errors import Conflict, Forbidden
from domain.volume.types import VolumeType


class CreateVolumeType(Command):
    name: str
    description: str | None = None
    is_public: bool = True
    extra_specs: dict[str, str] = Field(default_factory=dict)


class UpdateVolumeType(Command):
    type_id: uuid.UUID
    name: str | None = None
    description: str | None = None
    is_public: bool | None = None


class SetTypeExtraSpecs(Command):
    type_id: uuid.UUID
    extra_specs: dict[str, str] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list)


class DeleteVolumeType(Command):
    type_id: uuid.UUID


def _admin(ctx: Context, action: str) -> None:
    if not ctx.is_admin:
        raise Forbidden(f"Policy doesn't allow volume_extension:types_manage:{action}.")


def _load(uow: UnitOfWork, type_id: uuid.UUID) -> VolumeType:
    found = uow.get(VolumeType, type_id)
    if found is None:
        raise type_not_found(type_id)
    return found


@handler(CreateVolumeType)
def create_type(
    cmd: CreateVolumeType, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    _admin(ctx, "create")
    vtype = VolumeType(
        name=cmd.name,
        description=cmd.description,
        is_public=cmd.is_public,
        extra_specs=cmd.extra_specs,
    )
    try:
        take_name(uow, TYPE_NAME_CLAIM, "", cmd.name, vtype.id, "volume type")
    except Conflict as error:
        raise Conflict(f"Volume Type {cmd.name} already exists.") from error
    uow.add(vtype)
    return {"id": vtype.id}


@handler(UpdateVolumeType)
def update_type(
    cmd: UpdateVolumeType, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    _admin(ctx, "update")
    vtype = _load(uow, cmd.type_id)
    if cmd.name is not None and cmd.name != vtype.name:
        take_name(uow, TYPE_NAME_CLAIM, "", cmd.name, vtype.id, "volume type")
        release_name(uow, TYPE_NAME_CLAIM, "", vtype.name, vtype.id)
    vtype.update_details(cmd.name, cmd.description, cmd.is_public)
    return {"id": vtype.id}


@handler(SetTypeExtraSpecs)
def set_extra_specs(
    cmd: SetTypeExtraSpecs, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    _admin(ctx, "update")
    vtype = _load(uow, cmd.type_id)
    vtype.set_extra_specs(cmd.extra_specs, cmd.remove)
    return {"id": vtype.id, "extra_specs": dict(vtype.extra_specs)}


@handler(DeleteVolumeType)
def delete_type(
    cmd: DeleteVolumeType, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    _admin(ctx, "delete")
    vtype = _load(uow, cmd.type_id)
    vtype.delete()
    release_name(uow, TYPE_NAME_CLAIM, "", vtype.name, vtype.id)
    return {"id": vtype.id}
