"""Domains and projects."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import Field

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.identity.names import claim, release, rename
from commands.unit_of_work import UnitOfWork
from domain.errors import Conflict, InvalidInput
from domain.identity.domains import Domain, create_default_domain
from domain.identity.ids import DEFAULT_DOMAIN_ID
from domain.identity.projects import Project
from domain.identity.revocations import Revocation


class CreateDomain(Command):
    name: str
    description: str = ""
    enabled: bool = True
    tags: list[str] = Field(default_factory=list)
    default: bool = False  # the well-known `default` domain


class UpdateDomain(Command):
    domain_id: UUID
    name: str | None = None
    description: str | None = None
    enabled: bool | None = None
    tags: list[str] | None = None


class DeleteDomain(Command):
    domain_id: UUID


class CreateProject(Command):
    domain_id: UUID
    name: str
    description: str = ""
    enabled: bool = True
    parent_id: UUID | None = None
    tags: list[str] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)


class UpdateProject(Command):
    project_id: UUID
    name: str | None = None
    description: str | None = None
    enabled: bool | None = None
    tags: list[str] | None = None


class DeleteProject(Command):
    project_id: UUID


def changes_of(command: Command, *exclude: str) -> dict[str, Any]:
    return {
        k: v
        for k, v in command.model_dump(exclude_unset=True).items()
        if k not in exclude and v is not None
    }


@handler(CreateDomain)
def create_domain(cmd: CreateDomain, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    if cmd.default:
        existing = uow.get(Domain, DEFAULT_DOMAIN_ID)
        if existing is not None:
            return {"id": existing.id, "created": False}
        domain = create_default_domain()
    else:
        domain = Domain(
            name=cmd.name,
            description=cmd.description,
            enabled=cmd.enabled,
            tags=cmd.tags,
        )
    claim(uow, "domain", "", domain.name, domain.id, "domain")
    uow.add(domain)
    return {"id": domain.id, "created": True}


@handler(UpdateDomain)
def update_domain(cmd: UpdateDomain, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    domain = uow.require(Domain, cmd.domain_id, "domain")
    changes = changes_of(cmd, "domain_id")
    if "name" in changes:
        rename(uow, "domain", "", domain.name, changes["name"], domain.id, "domain")
    if changes.get("enabled") is False and domain.enabled:
        uow.add(_revoke(domain_id=domain.id, reason="domain disabled"))
    domain.update(**changes)
    return {"id": domain.id}


@handler(DeleteDomain)
def delete_domain(cmd: DeleteDomain, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    domain = uow.require(Domain, cmd.domain_id, "domain")
    if domain.id == DEFAULT_DOMAIN_ID:
        raise Conflict("The default domain cannot be deleted.")
    domain.delete()
    release(uow, "domain", "", domain.name, domain.id)
    return {"id": domain.id}


@handler(CreateProject)
def create_project(
    cmd: CreateProject, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    domain = uow.require(Domain, cmd.domain_id, "domain")
    if cmd.parent_id is not None and cmd.parent_id != domain.id:
        parent = uow.require(Project, cmd.parent_id, "project")
        if parent.domain_id != domain.id:
            raise InvalidInput("A project's parent must be in the same domain.")
    project = Project(
        domain_id=domain.id,
        name=cmd.name,
        description=cmd.description,
        enabled=cmd.enabled,
        parent_id=cmd.parent_id,
        tags=cmd.tags,
        extra=cmd.extra,
    )
    claim(uow, "project", domain.id.hex, project.name, project.id, "project")
    uow.add(project)
    return {"id": project.id}


@handler(UpdateProject)
def update_project(
    cmd: UpdateProject, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    project = uow.require(Project, cmd.project_id, "project")
    changes = changes_of(cmd, "project_id")
    if "name" in changes:
        rename(
            uow,
            "project",
            project.domain_id.hex,
            project.name,
            changes["name"],
            project.id,
            "project",
        )
    if changes.get("enabled") is False and project.enabled:
        uow.add(_revoke(project_id=project.id, reason="project disabled"))
    project.update(**changes)
    return {"id": project.id}


@handler(DeleteProject)
def delete_project(
    cmd: DeleteProject, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    project = uow.require(Project, cmd.project_id, "project")
    project.delete()
    release(uow, "project", project.domain_id.hex, project.name, project.id)
    uow.add(_revoke(project_id=project.id, reason="project deleted"))
    return {"id": project.id}


def _revoke(
    *,
    reason: str,
    audit_id: str | None = None,
    user_id: UUID | None = None,
    project_id: UUID | None = None,
    domain_id: UUID | None = None,
    application_credential_id: UUID | None = None,
) -> Revocation:
    return Revocation(
        audit_id=audit_id,
        user_id=user_id,
        project_id=project_id,
        domain_id=domain_id,
        application_credential_id=application_credential_id,
        reason=reason,
    )


revocation = _revoke
