"""Block storage quota limits per project (admin only)."""

from __future__ import annotations

from typing import Any

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.unit_of_work import UnitOfWork
from domain.errors import Forbidden
from domain.volume.quotas import DEFAULT_QUOTAS, VolumeQuota, quota_id


class UpdateVolumeQuota(Command):
    project_id: str
    limits: dict[str, Any]


class ResetVolumeQuota(Command):
    project_id: str


@handler(UpdateVolumeQuota)
def update_quota(
    cmd: UpdateVolumeQuota, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    if not ctx.is_admin:
        raise Forbidden("Policy doesn't allow volume_extension:quotas:update to be performed.")
    quota = uow.get(VolumeQuota, quota_id(cmd.project_id))
    if quota is None:
        quota = VolumeQuota(project_id=cmd.project_id)
        uow.add(quota)
    quota.set_limits(cmd.limits)
    return {"quota_set": {**DEFAULT_QUOTAS, **quota.limits}}


@handler(ResetVolumeQuota)
def reset_quota(
    cmd: ResetVolumeQuota, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    if not ctx.is_admin:
        raise Forbidden("Policy doesn't allow volume_extension:quotas:delete to be performed.")
    quota = uow.get(VolumeQuota, quota_id(cmd.project_id))
    if quota is not None:
        quota.reset()
    return {"project_id": cmd.project_id}
