"""Compute quota limits per project (admin only); usage is counted by the API."""

from __future__ import annotations

from typing import Any

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.unit_of_work import UnitOfWork
from domain.compute.quotas import ComputeQuota, quota_id
from domain.errors import Forbidden


class UpdateQuotaSet(Command):
    project_id: str
    limits: dict[str, Any]


class ResetQuotaSet(Command):
    project_id: str


def _quota(uow: UnitOfWork, project_id: str) -> ComputeQuota:
    quota = uow.get(ComputeQuota, quota_id(project_id))
    if quota is None:
        quota = ComputeQuota(project_id=project_id)
        uow.add(quota)
    return quota


@handler(UpdateQuotaSet)
def update_quota(cmd: UpdateQuotaSet, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    if not ctx.is_admin:
        raise Forbidden("Policy doesn't allow os_compute_api:os-quota-sets:update to be performed.")
    quota = _quota(uow, cmd.project_id)
    quota.set_limits(cmd.limits)
    return {"quota_set": quota.effective()}


@handler(ResetQuotaSet)
def reset_quota(cmd: ResetQuotaSet, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    if not ctx.is_admin:
        raise Forbidden("Policy doesn't allow os_compute_api:os-quota-sets:delete to be performed.")
    quota = uow.get(ComputeQuota, quota_id(cmd.project_id))
    if quota is not None:
        quota.reset()
    return {"project_id": cmd.project_id}
