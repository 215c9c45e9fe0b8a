"""What storage and compute agents tell the control plane about volumes.

Agents never write read models; they dispatch these commands, each idempotent
(a repeated report changes nothing), so an agent may resend after a crash.
Every failure carries a reason, which the volume or snapshot keeps.
"""

from __future__ import annotations

import uuid

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.unit_of_work import UnitOfWork
from commands.volume import boot
from commands.volume.snapshots import forget_snapshot
from commands.volume.support import snapshot_not_found, storage_hosts, volume_not_found
from domain.compute.servers import Server
from domain.errors import Forbidden
from domain.volume.snapshots import Snapshot
from domain.volume.volumes import Volume


class RegisterStorageHost(Command):
    hostname: str
    volumes_dir: str
    capacity_gb: int = 0
    availability_zone: str = "nova"
    driver: str = "qcow2-files"


class ReportVolumeProvisioned(Command):
    volume_id: uuid.UUID


class ReportVolumeExtended(Command):
    volume_id: uuid.UUID
    size: int


class ReportVolumeGone(Command):
    volume_id: uuid.UUID


class ReportVolumeFailed(Command):
    volume_id: uuid.UUID
    reason: str


class ReportSnapshotAvailable(Command):
    snapshot_id: uuid.UUID


class ReportSnapshotGone(Command):
    snapshot_id: uuid.UUID


class ReportSnapshotFailed(Command):
    snapshot_id: uuid.UUID
    reason: str


# -- from a compute agent: hot-plug outcomes ------------------------------------
class ReportVolumeAttached(Command):
    volume_id: uuid.UUID
    attachment_id: uuid.UUID
    mountpoint: str | None = None


class ReportVolumeDetached(Command):
    volume_id: uuid.UUID
    attachment_id: uuid.UUID


class ReportAttachFailed(Command):
    volume_id: uuid.UUID
    attachment_id: uuid.UUID
    reason: str


class ReportDetachFailed(Command):
    volume_id: uuid.UUID
    attachment_id: uuid.UUID
    reason: str


def agent_only(ctx: Context) -> None:
    if not ctx.is_admin:
        raise Forbidden("Only agents may report on volumes.")


def reported_volume(uow: UnitOfWork, volume_id: uuid.UUID) -> Volume:
    volume = uow.get(Volume, volume_id)
    if volume is None:
        raise volume_not_found(volume_id)
    return volume


def _snapshot(uow: UnitOfWork, snapshot_id: uuid.UUID) -> Snapshot:
    snapshot = uow.get(Snapshot, snapshot_id)
    if snapshot is None:
        raise snapshot_not_found(snapshot_id)
    return snapshot


def _thaw_source(uow: UnitOfWork, volume: Volume) -> None:
    """A clone's source file is free again once the clone exists (or failed)."""
    if volume.source.get("kind") == "volume":
        origin = uow.get(Volume, uuid.UUID(str(volume.source["id"])))
        if origin is not None:
            origin.thaw(str(volume.id))


@handler(RegisterStorageHost)
def register_host(
    cmd: RegisterStorageHost, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    agent_only(ctx)
    facts = cmd.model_dump(exclude={"hostname"})
    storage_hosts(uow).register(cmd.hostname, facts)
    return {"hostname": cmd.hostname}


@handler(ReportVolumeProvisioned)
def provisioned(
    cmd: ReportVolumeProvisioned, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    agent_only(ctx)
    volume = reported_volume(uow, cmd.volume_id)
    volume.provisioned()
    _thaw_source(uow, volume)
    boot.volume_made(uow, volume)
    return {"id": volume.id}


@handler(ReportVolumeExtended)
def extended(
    cmd: ReportVolumeExtended, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    agent_only(ctx)
    reported_volume(uow, cmd.volume_id).extended(cmd.size)
    return {"id": cmd.volume_id}


@handler(ReportVolumeGone)
def gone(cmd: ReportVolumeGone, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    agent_only(ctx)
    reported_volume(uow, cmd.volume_id).gone()
    return {"id": cmd.volume_id}


@handler(ReportVolumeFailed)
def volume_failed(
    cmd: ReportVolumeFailed, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    agent_only(ctx)
    volume = reported_volume(uow, cmd.volume_id)
    volume.fail(cmd.reason[:255])
    _thaw_source(uow, volume)
    boot.volume_not_made(uow, volume)
    return {"id": volume.id}


@handler(ReportSnapshotAvailable)
def snapshot_available(
    cmd: ReportSnapshotAvailable, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    agent_only(ctx)
    snapshot = _snapshot(uow, cmd.snapshot_id)
    snapshot.became_available()
    volume = uow.get(Volume, uuid.UUID(snapshot.volume_id))
    if volume is not None:
        volume.thaw(str(snapshot.id))
    return {"id": snapshot.id}


@handler(ReportSnapshotGone)
def snapshot_gone(
    cmd: ReportSnapshotGone, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    agent_only(ctx)
    snapshot = uow.get_any(Snapshot, cmd.snapshot_id)
    if snapshot is None:
        raise snapshot_not_found(cmd.snapshot_id)
    if not snapshot.deleted:
        forget_snapshot(uow, snapshot)
    return {"id": cmd.snapshot_id}


@handler(ReportSnapshotFailed)
def snapshot_failed(
    cmd: ReportSnapshotFailed, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    agent_only(ctx)
    snapshot = _snapshot(uow, cmd.snapshot_id)
    snapshot.fail(cmd.reason[:255])
    volume = uow.get(Volume, uuid.UUID(snapshot.volume_id))
    if volume is not None:
        volume.thaw(str(snapshot.id))
    return {"id": snapshot.id}


@handler(ReportVolumeAttached)
def attached(
    cmd: ReportVolumeAttached, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    agent_only(ctx)
    reported_volume(uow, cmd.volume_id).complete(str(cmd.attachment_id), cmd.mountpoint)
    return {"id": str(cmd.attachment_id)}


@handler(ReportVolumeDetached)
def detached(
    cmd: ReportVolumeDetached, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    agent_only(ctx)
    _remove_attachment(uow, cmd.volume_id, str(cmd.attachment_id), "")
    return {"id": str(cmd.attachment_id)}


@handler(ReportAttachFailed)
def attach_failed(
    cmd: ReportAttachFailed, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    agent_only(ctx)
    _remove_attachment(uow, cmd.volume_id, str(cmd.attachment_id), cmd.reason[:255])
    return {"id": str(cmd.attachment_id)}


@handler(ReportDetachFailed)
def detach_failed(
    cmd: ReportDetachFailed, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    agent_only(ctx)
    reported_volume(uow, cmd.volume_id).detach_failed(str(cmd.attachment_id), cmd.reason[:255])
    return {"id": str(cmd.attachment_id)}


def _remove_attachment(
    uow: UnitOfWork, volume_id: uuid.UUID, attachment_id: str, reason: str
) -> None:
    """The attachment ends on the volume and on its server in one transaction."""
    volume = reported_volume(uow, volume_id)
    found = volume.attachments.get(attachment_id)
    volume.remove_attachment(attachment_id, reason)
    if found is not None:
        server = uow.get(Server, uuid.UUID(str(found["server_id"])))
        if server is not None:
            server.volume_detached(str(volume.id), attachment_id)
