"""Flavors: admin creates and deletes them, grants private ones to projects."""

from __future__ import annotations

import uuid

from commands.bus import Command, Dependencies, Outcome, handler
from commands.compute.support import (
    FLAVOR_ID_CLAIM,
    FLAVOR_NAME_CLAIM,
    ExtraSpecNotFound,
    find_flavor,
    release_name,
    take_name,
)
from commands.context import Context
from commands.unit_of_work import UnitOfWork
from domain.compute.flavors import Flavor
from domain.errors import Conflict, Forbidden


def _admin(ctx: Context, action: str) -> None:
    if not ctx.is_admin:
        raise Forbidden(
            f"Policy doesn't allow os_compute_api:os-flavor-manage:{action} to be performed."
        )


class CreateFlavor(Command):
    name: str
    vcpus: int
    ram: int
    disk: int = 0
    flavorid: str | None = None
    ephemeral: int = 0
    swap: int = 0
    rxtx_factor: float = 1.0
    is_public: bool = True
    description: str | None = None


class UpdateFlavor(Command):
    flavorid: str
    description: str | None


class DeleteFlavor(Command):
    flavorid: str


class SetExtraSpecs(Command):
    flavorid: str
    extra_specs: dict[str, str]


class UnsetExtraSpec(Command):
    flavorid: str
    key: str


class ChangeFlavorAccess(Command):
    flavorid: str
    project_id: str
    grant: bool


@handler(CreateFlavor)
def create_flavor(cmd: CreateFlavor, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    _admin(ctx, "create")
    flavorid = cmd.flavorid if cmd.flavorid not in (None, "", "auto") else str(uuid.uuid4())
    assert flavorid is not None
    flavor = Flavor(
        flavorid=flavorid,
        name=cmd.name,
        vcpus=cmd.vcpus,
        ram=cmd.ram,
        disk=cmd.disk,
        ephemeral=cmd.ephemeral,
        swap=cmd.swap,
        rxtx_factor=cmd.rxtx_factor,
        is_public=cmd.is_public,
        description=cmd.description,
    )
    try:
        take_name(uow, FLAVOR_ID_CLAIM, "", flavorid, flavor.id, "flavor id")
    except Conflict as error:
        raise Conflict(f"Flavor with ID {flavorid} already exists.") from error
    try:
        take_name(uow, FLAVOR_NAME_CLAIM, "", cmd.name, flavor.id, "flavor name")
    except Conflict as error:
        raise Conflict(f"Flavor with name {cmd.name} already exists.") from error
    uow.add(flavor)
    return {"id": flavorid}


@handler(UpdateFlavor)
def update_flavor(cmd: UpdateFlavor, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    _admin(ctx, "update")
    find_flavor(uow, cmd.flavorid).set_description(cmd.description)
    return {"id": cmd.flavorid}


@handler(DeleteFlavor)
def delete_flavor(cmd: DeleteFlavor, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    _admin(ctx, "delete")
    flavor = find_flavor(uow, cmd.flavorid)
    flavor.delete()
    release_name(uow, FLAVOR_ID_CLAIM, "", flavor.flavorid, flavor.id)
    release_name(uow, FLAVOR_NAME_CLAIM, "", flavor.name, flavor.id)
    return {"id": cmd.flavorid}


@handler(SetExtraSpecs)
def set_extra_specs(
    cmd: SetExtraSpecs, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    _admin(ctx, "extra_specs")
    flavor = find_flavor(uow, cmd.flavorid)
    flavor.set_extra_specs(cmd.extra_specs)
    return {"extra_specs": dict(flavor.extra_specs)}


@handler(UnsetExtraSpec)
def unset_extra_spec(
    cmd: UnsetExtraSpec, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    _admin(ctx, "extra_specs")
    flavor = find_flavor(uow, cmd.flavorid)
    if not flavor.unset_extra_spec(cmd.key):
        raise ExtraSpecNotFound(cmd.flavorid, cmd.key)
    return {"extra_specs": dict(flavor.extra_specs)}


@handler(ChangeFlavorAccess)
def change_access(
    cmd: ChangeFlavorAccess, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    _admin(ctx, "access")
    flavor = find_flavor(uow, cmd.flavorid)
    if cmd.grant:
        flavor.add_access(cmd.project_id)
    else:
        flavor.remove_access(cmd.project_id)
    return {"flavor_access": [{"flavor_id": cmd.flavorid, "tenant_id": p} for p in flavor.projects]}
