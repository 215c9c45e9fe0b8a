"""Roles, their implications, and grants of roles to users and groups."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.identity.names import claim, release, rename
from commands.identity.tenancy import changes_of, revocation
from commands.unit_of_work import UnitOfWork
from domain.errors import InvalidInput, NotFound
from domain.identity.assignments import SYSTEM_TARGET_ID, RoleAssignment, assignment_id
from domain.identity.domains import Domain
from domain.identity.groups import Group
from domain.identity.projects import Project
from domain.identity.roles import Role
from domain.identity.users import User


class CreateRole(Command):
    name: str
    domain_id: UUID | None = None
    description: str = ""


class UpdateRole(Command):
    role_id: UUID
    name: str | None = None
    description: str | None = None


class DeleteRole(Command):
    role_id: UUID


class AddImpliedRole(Command):
    prior_role_id: UUID
    implied_role_id: UUID


class RemoveImpliedRole(Command):
    prior_role_id: UUID
    implied_role_id: UUID


class GrantRole(Command):
    actor_type: Literal["user", "group"]
    actor_id: UUID
    target_type: Literal["project", "domain", "system"]
    target_id: UUID = SYSTEM_TARGET_ID
    role_id: UUID
    inherited: bool = False


class RevokeRole(GrantRole):
    pass


def _role_scope(domain_id: UUID | None) -> str:
    return domain_id.hex if domain_id else ""


@handler(CreateRole)
def create_role(cmd: CreateRole, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    if cmd.domain_id is not None:
        uow.require(Domain, cmd.domain_id, "domain")
    role = Role(name=cmd.name, domain_id=cmd.domain_id, description=cmd.description)
    claim(uow, "role", _role_scope(cmd.domain_id), role.name, role.id, "role")
    uow.add(role)
    return {"id": role.id}


@handler(UpdateRole)
def update_role(cmd: UpdateRole, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    role = uow.require(Role, cmd.role_id, "role")
    changes = changes_of(cmd, "role_id")
    if "name" in changes:
        rename(
            uow,
            "role",
            _role_scope(role.domain_id),
            role.name,
            changes["name"],
            role.id,
            "role",
        )
    role.update(**changes)
    return {"id": role.id}


@handler(DeleteRole)
def delete_role(cmd: DeleteRole, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    role = uow.require(Role, cmd.role_id, "role")
    role.delete()
    release(uow, "role", _role_scope(role.domain_id), role.name, role.id)
    return {"id": role.id}


@handler(AddImpliedRole)
def add_implied_role(
    cmd: AddImpliedRole, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    prior = uow.require(Role, cmd.prior_role_id, "role")
    implied = uow.require(Role, cmd.implied_role_id, "role")
    if prior.id in _implied_closure(uow, implied):
        raise InvalidInput("Implied roles must not form a cycle.")
    prior.imply(implied.id)
    return {"prior_role_id": prior.id, "implied_role_id": implied.id}


@handler(RemoveImpliedRole)
def remove_implied_role(
    cmd: RemoveImpliedRole, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    prior = uow.require(Role, cmd.prior_role_id, "role")
    if not prior.stop_implying(cmd.implied_role_id):
        raise NotFound("implied role", cmd.implied_role_id.hex)
    return {"prior_role_id": prior.id}


def _implied_closure(uow: UnitOfWork, role: Role) -> set[UUID]:
    seen: set[UUID] = set()
    todo = list(role.implies)
    while todo:
        rid = todo.pop()
        if rid in seen:
            continue
        seen.add(rid)
        implied = uow.get(Role, rid)
        if implied is not None:
            todo.extend(implied.implies)
    return seen


def _check_parties(cmd: GrantRole, uow: UnitOfWork) -> None:
    if cmd.actor_type == "user":
        uow.require(User, cmd.actor_id, "user")
    else:
        uow.require(Group, cmd.actor_id, "group")
    if cmd.target_type == "project":
        uow.require(Project, cmd.target_id, "project")
    elif cmd.target_type == "domain":
        uow.require(Domain, cmd.target_id, "domain")
    uow.require(Role, cmd.role_id, "role")


@handler(GrantRole)
def grant_role(cmd: GrantRole, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    _check_parties(cmd, uow)
    key = assignment_id(
        cmd.actor_type,
        cmd.actor_id,
        cmd.target_type,
        cmd.target_id,
        cmd.role_id,
        cmd.inherited,
    )
    assignment = uow.get(RoleAssignment, key)
    if assignment is None:
        uow.add(
            RoleAssignment(
                actor_type=cmd.actor_type,
                actor_id=cmd.actor_id,
                target_type=cmd.target_type,
                target_id=cmd.target_id,
                role_id=cmd.role_id,
                inherited=cmd.inherited,
            )
        )
    else:
        assignment.grant()
    return {"id": key}


@handler(RevokeRole)
def revoke_role(cmd: RevokeRole, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    key = assignment_id(
        cmd.actor_type,
        cmd.actor_id,
        cmd.target_type,
        cmd.target_id,
        cmd.role_id,
        cmd.inherited,
    )
    assignment = uow.get(RoleAssignment, key)
    if assignment is None or not assignment.revoke():
        raise NotFound("role assignment", key.hex)
    if cmd.actor_type == "user":
        uow.add(
            revocation(
                user_id=cmd.actor_id,
                reason="role revoked",
                project_id=cmd.target_id if cmd.target_type == "project" else None,
            )
        )
    return {"id": key}
