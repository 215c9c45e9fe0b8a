"""Security groups and their rules."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.network.ports import ensure_default_group
from commands.network.support import changes_of, find, load, owner_project
from commands.unit_of_work import UnitOfWork
from domain.network.errors import InUse, Invalid, NeutronNotFound, check_revision
from domain.network.rules import RULE_REVISION, check_rule
from domain.network.security_groups import SecurityGroup


class EnsureDefaultSecurityGroup(Command):
    project_id: str


class CreateSecurityGroup(Command):
    project_id: str | None = None
    name: str = ""
    description: str = ""
    stateful: bool = True
    tags: list[str] = Field(default_factory=list)


class UpdateSecurityGroup(Command):
    security_group_id: uuid.UUID
    expected_revision: int | None = None
    name: str = ""
    description: str = ""
    stateful: bool = True


class DeleteSecurityGroup(Command):
    security_group_id: uuid.UUID
    # Whether ports still use it is a read-model fact the API passes in.
    in_use: bool = False
    # If-Match: revision_number=N (None: whatever the revision).
    expected_revision: int | None = None


class CreateSecurityGroupRule(Command):
    security_group_id: uuid.UUID
    project_id: str | None = None
    direction: str | None = None
    ethertype: str | None = None
    protocol: str | int | None = None
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ip_prefix: str | None = None
    remote_group_id: uuid.UUID | None = None
    description: str = ""


class DeleteSecurityGroupRule(Command):
    security_group_id: uuid.UUID
    rule_id: str
    # If-Match: revision_number=N (None: whatever the revision).
    expected_revision: int | None = None


@handler(EnsureDefaultSecurityGroup)
def ensure_default(
    cmd: EnsureDefaultSecurityGroup, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    return {"id": ensure_default_group(uow, cmd.project_id).id}


@handler(CreateSecurityGroup)
def create_group(
    cmd: CreateSecurityGroup, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    project_id = owner_project(cmd.project_id, ctx)
    if cmd.name == "default":
        raise InUse(
            "Security group 'default' already exists for the project.", "SecurityGroupConflict"
        )
    ensure_default_group(uow, project_id)
    group_id = uuid.uuid4()
    # New groups let everything out, as Neutron's do.
    rules = {}
    for ethertype in ("IPv4", "IPv6"):
        rule = check_rule({"direction": "egress", "ethertype": ethertype})
        rule["id"] = str(uuid.uuid4())
        rules[rule["id"]] = rule
    group = SecurityGroup(
        id=group_id,
        project_id=project_id,
        name=cmd.name,
        description=cmd.description,
        stateful=cmd.stateful,
        rules=rules,
        tags=cmd.tags,
    )
    uow.add(group)
    return {"id": group.id}


@handler(UpdateSecurityGroup)
def update_group(
    cmd: UpdateSecurityGroup, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    group = load(uow, SecurityGroup, cmd.security_group_id, "security group", ctx)
    group.update(cmd.expected_revision, **changes_of(cmd, "security_group_id", "expected_revision"))
    return {"id": group.id}


@handler(DeleteSecurityGroup)
def delete_group(
    cmd: DeleteSecurityGroup, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    group = load(uow, SecurityGroup, cmd.security_group_id, "security group", ctx)
    check_revision(group.revision_number, cmd.expected_revision)
    if cmd.in_use:
        raise InUse(f"Security Group {group.id} in use.", "SecurityGroupInUse")
    group.delete_by(ctx.is_admin)
    return {"id": group.id}


@handler(CreateSecurityGroupRule)
def create_rule(
    cmd: CreateSecurityGroupRule, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    group = load(uow, SecurityGroup, cmd.security_group_id, "security group", ctx)
    if cmd.project_id and cmd.project_id != group.project_id:
        raise Invalid("A rule belongs to the project of its security group.", "BadRequest")
    fields: dict[str, Any] = cmd.model_dump(exclude={"security_group_id", "project_id"})
    if cmd.remote_group_id is not None:
        remote = find(uow, SecurityGroup, cmd.remote_group_id, "security group")
        if remote.project_id != group.project_id and not ctx.is_admin:
            raise NeutronNotFound("security group", cmd.remote_group_id)
        fields["remote_group_id"] = str(remote.id)
    rule = group.add_rule(str(uuid.uuid4()), fields)
    return {"id": rule["id"], "security_group_id": group.id}


@handler(DeleteSecurityGroupRule)
def delete_rule(
    cmd: DeleteSecurityGroupRule, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    group = load(uow, SecurityGroup, cmd.security_group_id, "security group rule", ctx)
    # A rule is never changed, so the revision it shows stays RULE_REVISION.
    check_revision(RULE_REVISION, cmd.expected_revision)
    group.remove_rule(cmd.rule_id)
    return {"id": cmd.rule_id}
