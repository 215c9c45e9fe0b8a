"""Quotas and tags: the cross-cutting parts of the Neutron API."""

from __future__ import annotations

import uuid
from typing import Any

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.network.support import load
from commands.unit_of_work import UnitOfWork
from domain.network.base import NetworkResource
from domain.network.errors import Denied, NeutronNotFound
from domain.network.floatingips import FloatingIp
from domain.network.networks import Network
from domain.network.ports import Port
from domain.network.quotas import QuotaSet, quota_id
from domain.network.routers import Router
from domain.network.security_groups import SecurityGroup
from domain.network.subnets import Subnet

TAGGABLE: dict[str, tuple[type[NetworkResource], str]] = {
    "networks": (Network, "network"),
    "subnets": (Subnet, "subnet"),
    "ports": (Port, "port"),
    "routers": (Router, "router"),
    "floatingips": (FloatingIp, "floating ip"),
    "security-groups": (SecurityGroup, "security group"),
}


class SetQuotas(Command):
    project_id: str
    limits: dict[str, Any]


class ResetQuotas(Command):
    project_id: str


class ChangeTags(Command):
    collection: str
    resource_id: uuid.UUID
    replace: list[str] | None = None
    add: list[str] = []
    remove: list[str] = []


def _quota_set(uow: UnitOfWork, project_id: str, ctx: Context) -> QuotaSet:
    if not ctx.is_admin:
        raise Denied("rule:update_quota")
    quotas = uow.get(QuotaSet, quota_id(project_id))
    if quotas is None:
        quotas = QuotaSet(project_id=project_id)
        uow.add(quotas)
    return quotas


@handler(SetQuotas)
def set_quotas(cmd: SetQuotas, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    quotas = _quota_set(uow, cmd.project_id, ctx)
    quotas.set_limits(cmd.limits)
    return {"project_id": cmd.project_id, "quota": quotas.effective()}


@handler(ResetQuotas)
def reset_quotas(cmd: ResetQuotas, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    quotas = _quota_set(uow, cmd.project_id, ctx)
    quotas.reset()
    return {"project_id": cmd.project_id}


@handler(ChangeTags)
def change_tags(cmd: ChangeTags, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    cls, kind = TAGGABLE[cmd.collection]
    resource = load(uow, cls, cmd.resource_id, kind, ctx)
    tags = set(resource.tags if cmd.replace is None else cmd.replace)
    for tag in cmd.remove:
        if tag not in tags:
            raise NeutronNotFound("tag", f"{tag} on {kind} {resource.id}", "TagNotFound")
        tags.discard(tag)
    tags.update(cmd.add)
    resource.update(tags=sorted(tags))
    return {"id": resource.id, "tags": sorted(tags)}
