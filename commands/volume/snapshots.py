"""Snapshots: create (the volume's file is frozen until the agent took it),
update, reset status, delete."""

from __future__ import annotations

import uuid

from pydantic import Field

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.unit_of_work import UnitOfWork
from commands.volume.support import load_snapshot, load_volume
from domain.errors import Forbidden, InvalidInput
from domain.volume import states as s
from domain.volume.snapshots import Snapshot
from domain.volume.volumes import Volume, check_metadata


class CreateSnapshot(Command):
    volume_id: uuid.UUID
    name: str | None = None
    description: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    force: bool = False


class UpdateSnapshot(Command):
    snapshot_id: uuid.UUID
    name: str | None = None
    description: str | None = None
    metadata: dict[str, str] | None = None


class ResetSnapshotStatus(Command):
    snapshot_id: uuid.UUID
    status: str


class DeleteSnapshot(Command):
    snapshot_id: uuid.UUID


@handler(CreateSnapshot)
def create_snapshot(
    cmd: CreateSnapshot, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    volume = load_volume(uow, ctx, cmd.volume_id)
    if volume.status == s.IN_USE:
        # Freezing the file of a running guest's disk needs the hypervisor's
        # help (a live external snapshot), which the compute agent lacks yet.
        raise InvalidInput(
            f"Invalid volume: Volume {volume.id} status must be available, but current "
            f"status is: {volume.status}. Snapshots of attached volumes are not supported."
        )
    snapshot = Snapshot(
        project_id=volume.project_id,
        user_id=ctx.user_id,
        volume_id=str(volume.id),
        name=cmd.name,
        description=cmd.description,
        size=volume.size,
        metadata=check_metadata(cmd.metadata),
        host=volume.host,
    )
    volume.add_snapshot(str(snapshot.id))
    uow.add(snapshot)
    return {"id": snapshot.id}


@handler(UpdateSnapshot)
def update_snapshot(
    cmd: UpdateSnapshot, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    load_snapshot(uow, ctx, cmd.snapshot_id).update_details(cmd.name, cmd.description, cmd.metadata)
    return {"id": cmd.snapshot_id}


@handler(ResetSnapshotStatus)
def reset_snapshot_status(
    cmd: ResetSnapshotStatus, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    if not ctx.is_admin:
        raise Forbidden(
            "Policy doesn't allow volume_extension:snapshot_admin_actions:reset_status."
        )
    load_snapshot(uow, ctx, cmd.snapshot_id).reset_status(cmd.status)
    return {"id": cmd.snapshot_id}


@handler(DeleteSnapshot)
def delete_snapshot(
    cmd: DeleteSnapshot, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    """Deleting; the agent lets go of the file (kept while clones still use it)."""
    snapshot = load_snapshot(uow, ctx, cmd.snapshot_id)
    snapshot.request_delete()
    return {"id": snapshot.id}


def forget_snapshot(uow: UnitOfWork, snapshot: Snapshot) -> None:
    """The snapshot is gone: its volume no longer depends on it."""
    snapshot.gone()
    volume = uow.get(Volume, uuid.UUID(snapshot.volume_id))
    if volume is not None:
        volume.remove_snapshot(str(snapshot.id))
