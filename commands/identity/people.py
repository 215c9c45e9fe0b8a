"""Users and groups."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import Field

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.identity.names import claim, release, rename
from commands.identity.tenancy import changes_of, revocation
from commands.unit_of_work import UnitOfWork
from domain.errors import Forbidden, InvalidInput, NotFound
from domain.identity.domains import Domain
from domain.identity.groups import Group
from domain.identity.projects import Project
from domain.identity.users import User

PASSWORD_MAX_LENGTH = 4096


class CreateUser(Command):
    domain_id: UUID
    name: str
    password: str | None = None
    enabled: bool = True
    description: str = ""
    email: str | None = None
    default_project_id: UUID | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class UpdateUser(Command):
    user_id: UUID
    name: str | None = None
    password: str | None = None
    enabled: bool | None = None
    description: str | None = None
    email: str | None = None
    default_project_id: UUID | None = None


class ChangeOwnPassword(Command):
    user_id: UUID
    original_password: str
    password: str


class DeleteUser(Command):
    user_id: UUID


class CreateGroup(Command):
    domain_id: UUID
    name: str
    description: str = ""


class UpdateGroup(Command):
    group_id: UUID
    name: str | None = None
    description: str | None = None


class DeleteGroup(Command):
    group_id: UUID


class AddUserToGroup(Command):
    group_id: UUID
    user_id: UUID


class RemoveUserFromGroup(Command):
    group_id: UUID
    user_id: UUID


def _check_password(password: str) -> str:
    if not password:
        raise InvalidInput("The password must not be empty.")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise InvalidInput(f"The password must be at most {PASSWORD_MAX_LENGTH} characters.")
    return password


@handler(CreateUser)
def create_user(cmd: CreateUser, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    domain = uow.require(Domain, cmd.domain_id, "domain")
    if cmd.default_project_id is not None:
        uow.require(Project, cmd.default_project_id, "project")
    password_hash = (
        deps.passwords.hash(_check_password(cmd.password)) if cmd.password is not None else None
    )
    user = User(
        domain_id=domain.id,
        name=cmd.name,
        enabled=cmd.enabled,
        description=cmd.description,
        email=cmd.email,
        default_project_id=cmd.default_project_id,
        password_hash=password_hash,
        extra=cmd.extra,
    )
    claim(uow, "user", domain.id.hex, user.name, user.id, "user")
    uow.add(user)
    return {"id": user.id}


@handler(UpdateUser)
def update_user(cmd: UpdateUser, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    user = uow.require(User, cmd.user_id, "user")
    changes = changes_of(cmd, "user_id", "password")
    if "default_project_id" in changes:
        uow.require(Project, changes["default_project_id"], "project")
    if "name" in changes:
        rename(uow, "user", user.domain_id.hex, user.name, changes["name"], user.id, "user")
    if changes.get("enabled") is False and user.enabled:
        uow.add(revocation(user_id=user.id, reason="user disabled"))
    user.update(**changes)
    if cmd.password is not None:
        user.change_password(deps.passwords.hash(_check_password(cmd.password)))
        uow.add(revocation(user_id=user.id, reason="password changed"))
    return {"id": user.id}


@handler(ChangeOwnPassword)
def change_own_password(
    cmd: ChangeOwnPassword, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    user = uow.require(User, cmd.user_id, "user")
    if user.password_hash is None or not deps.passwords.verify(
        user.password_hash, cmd.original_password
    ):
        raise Forbidden("The original password is not correct.")
    user.change_password(deps.passwords.hash(_check_password(cmd.password)))
    uow.add(revocation(user_id=user.id, reason="password changed"))
    return {"id": user.id}


@handler(DeleteUser)
def delete_user(cmd: DeleteUser, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    user = uow.require(User, cmd.user_id, "user")
    user.delete()
    release(uow, "user", user.domain_id.hex, user.name, user.id)
    uow.add(revocation(user_id=user.id, reason="user deleted"))
    return {"id": user.id}


@handler(CreateGroup)
def create_group(cmd: CreateGroup, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    domain = uow.require(Domain, cmd.domain_id, "domain")
    group = Group(domain_id=domain.id, name=cmd.name, description=cmd.description)
    claim(uow, "group", domain.id.hex, group.name, group.id, "group")
    uow.add(group)
    return {"id": group.id}


@handler(UpdateGroup)
def update_group(cmd: UpdateGroup, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    group = uow.require(Group, cmd.group_id, "group")
    changes = changes_of(cmd, "group_id")
    if "name" in changes:
        rename(
            uow,
            "group",
            group.domain_id.hex,
            group.name,
            changes["name"],
            group.id,
            "group",
        )
    group.update(**changes)
    return {"id": group.id}


@handler(DeleteGroup)
def delete_group(cmd: DeleteGroup, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    group = uow.require(Group, cmd.group_id, "group")
    group.delete()
    release(uow, "group", group.domain_id.hex, group.name, group.id)
    return {"id": group.id}


@handler(AddUserToGroup)
def add_user_to_group(
    cmd: AddUserToGroup, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    group = uow.require(Group, cmd.group_id, "group")
    uow.require(User, cmd.user_id, "user")
    group.add_member(cmd.user_id)
    return {"id": group.id}


@handler(RemoveUserFromGroup)
def remove_user_from_group(
    cmd: RemoveUserFromGroup, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    group = uow.require(Group, cmd.group_id, "group")
    user = uow.require(User, cmd.user_id, "user")
    if not group.remove_member(user.id):
        raise NotFound("membership", f"user {user.id.hex} in group {group.id.hex}")
    uow.add(revocation(user_id=user.id, reason="removed from group"))
    return {"id": group.id}
