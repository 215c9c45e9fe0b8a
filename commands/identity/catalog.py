"""Regions, services and endpoints: the catalog handed out with tokens."""

from __future__ import annotations

from uuid import UUID

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.identity.tenancy import changes_of
from commands.unit_of_work import UnitOfWork
from domain.errors import Conflict
from domain.identity.catalog import Endpoint, Region, Service, region_uuid


class CreateRegion(Command):
    region_id: str
    description: str = ""
    parent_region_id: str | None = None


class UpdateRegion(Command):
    region_id: str
    description: str | None = None
    parent_region_id: str | None = None


class DeleteRegion(Command):
    region_id: str


class CreateService(Command):
    type: str
    name: str = ""
    description: str = ""
    enabled: bool = True


class UpdateService(Command):
    service_id: UUID
    type: str | None = None
    name: str | None = None
    description: str | None = None
    enabled: bool | None = None


class DeleteService(Command):
    service_id: UUID


class CreateEndpoint(Command):
    service_id: UUID
    interface: str
    url: str
    region_id: str | None = None
    enabled: bool = True


class UpdateEndpoint(Command):
    endpoint_id: UUID
    service_id: UUID | None = None
    interface: str | None = None
    url: str | None = None
    region_id: str | None = None
    enabled: bool | None = None


class DeleteEndpoint(Command):
    endpoint_id: UUID


def _require_region(uow: UnitOfWork, region_id: str) -> Region:
    return uow.require(Region, region_uuid(region_id), "region")


@handler(CreateRegion)
def create_region(cmd: CreateRegion, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    if uow.get_any(Region, region_uuid(cmd.region_id)) is not None:
        raise Conflict(f"Duplicate ID, {cmd.region_id}.")
    if cmd.parent_region_id is not None:
        _require_region(uow, cmd.parent_region_id)
    region = Region(
        region_id=cmd.region_id,
        description=cmd.description,
        parent_region_id=cmd.parent_region_id,
    )
    uow.add(region)
    return {"id": region.region_id}


@handler(UpdateRegion)
def update_region(cmd: UpdateRegion, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    region = _require_region(uow, cmd.region_id)
    changes = changes_of(cmd, "region_id")
    if changes.get("parent_region_id"):
        _require_region(uow, changes["parent_region_id"])
    region.update(**changes)
    return {"id": region.region_id}


@handler(DeleteRegion)
def delete_region(cmd: DeleteRegion, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    region = _require_region(uow, cmd.region_id)
    region.delete()
    return {"id": region.region_id}


@handler(CreateService)
def create_service(
    cmd: CreateService, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    service = Service(
        type=cmd.type, name=cmd.name, description=cmd.description, enabled=cmd.enabled
    )
    uow.add(service)
    return {"id": service.id}


@handler(UpdateService)
def update_service(
    cmd: UpdateService, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    service = uow.require(Service, cmd.service_id, "service")
    service.update(**changes_of(cmd, "service_id"))
    return {"id": service.id}


@handler(DeleteService)
def delete_service(
    cmd: DeleteService, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    service = uow.require(Service, cmd.service_id, "service")
    service.delete()
    return {"id": service.id}


@handler(CreateEndpoint)
def create_endpoint(
    cmd: CreateEndpoint, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    uow.require(Service, cmd.service_id, "service")
    if cmd.region_id is not None:
        _require_region(uow, cmd.region_id)
    endpoint = Endpoint(
        service_id=cmd.service_id,
        interface=cmd.interface,
        url=cmd.url,
        region_id=cmd.region_id,
        enabled=cmd.enabled,
    )
    uow.add(endpoint)
    return {"id": endpoint.id}


@handler(UpdateEndpoint)
def update_endpoint(
    cmd: UpdateEndpoint, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    endpoint = uow.require(Endpoint, cmd.endpoint_id, "endpoint")
    changes = changes_of(cmd, "endpoint_id")
    if "service_id" in changes:
        uow.require(Service, changes["service_id"], "service")
    if changes.get("region_id"):
        _require_region(uow, changes["region_id"])
    endpoint.update(**changes)
    return {"id": endpoint.id}


@handler(DeleteEndpoint)
def delete_endpoint(
    cmd: DeleteEndpoint, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    endpoint = uow.require(Endpoint, cmd.endpoint_id, "endpoint")
    endpoint.delete()
    return {"id": endpoint.id}
