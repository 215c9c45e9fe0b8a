"""Cinder's attachments API (3.27+): reserve, connect, complete, delete.

The connection info a connector receives is decided here from the storage
host's registration (its folder), so a compute agent on the same machine can
open the file; the compute agent hot-plugs what is `attaching` and reports.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from commands.bus import Command, Dependencies, Outcome, handler
from commands.compute.servers import ServerNotFound
from commands.context import Context
from commands.unit_of_work import UnitOfWork
from commands.volume.support import load_volume, storage_hosts
from domain.compute.servers import Server
from domain.errors import Conflict
from domain.volume.hosts import connection_info
from domain.volume.volumes import Volume


class CreateAttachment(Command):
    volume_id: uuid.UUID
    server_id: uuid.UUID
    connector: dict[str, Any] | None = None
    mode: str = "rw"


class UpdateAttachment(Command):
    volume_id: uuid.UUID
    attachment_id: uuid.UUID
    connector: dict[str, Any] = Field(default_factory=dict)


class CompleteAttachment(Command):
    volume_id: uuid.UUID
    attachment_id: uuid.UUID
    mountpoint: str | None = None


class AttachVolumeToServer(Command):
    """Nova's os-volume_attachments POST in one step: reserved and connected to
    the server's host at once, so its compute agent hot-plugs it."""

    volume_id: uuid.UUID
    server_id: uuid.UUID
    device: str | None = None


class RequestDetach(Command):
    """Nova's path (os-volume_attachments DELETE): the compute agent unplugs
    the disk, then reports ReportVolumeDetached, which removes the attachment."""

    volume_id: uuid.UUID
    attachment_id: uuid.UUID


class DeleteAttachment(Command):
    volume_id: uuid.UUID
    attachment_id: uuid.UUID


def _connect(
    uow: UnitOfWork, volume: Volume, attachment_id: str, connector: dict[str, Any]
) -> None:
    facts = storage_hosts(uow).hosts.get(volume.host, {})
    mode = volume.attachment(attachment_id)["mode"]
    volume.connect(attachment_id, connector, connection_info(facts, str(volume.id), mode))


def connect_to_host(
    uow: UnitOfWork, volume: Volume, attachment_id: str, host: str, device: str | None
) -> None:
    """Connected to a compute host, as Nova does before it plugs the disk."""
    _connect(uow, volume, attachment_id, {"host": host, "mountpoint": device})


def _server_for_attach(uow: UnitOfWork, ctx: Context, server_id: uuid.UUID) -> Server:
    """The server a volume is attached to. The attachment is recorded on it in
    the same transaction, so an attach racing the server's delete either
    commits first (and the delete frees it) or meets the deleted server."""
    server = uow.get_any(Server, server_id)
    if server is None or (server.project_id != ctx.project_id and not ctx.is_admin):
        raise ServerNotFound(server_id)
    if server.deleted:
        raise Conflict(
            f"Cannot 'attach_volume' instance {server_id} while it is in task_state deleting"
        )
    return server


def _forget_on_server(uow: UnitOfWork, server_id: str, volume_id: str, attachment_id: str) -> None:
    server = uow.get(Server, uuid.UUID(server_id))
    if server is not None:
        server.volume_detached(volume_id, attachment_id)


@handler(CreateAttachment)
def create_attachment(
    cmd: CreateAttachment, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    volume = load_volume(uow, ctx, cmd.volume_id)
    server = _server_for_attach(uow, ctx, cmd.server_id)
    attachment_id = str(uuid.uuid4())
    volume.reserve(attachment_id, str(server.id), cmd.mode)
    server.attach_volume(str(volume.id), attachment_id)
    if cmd.connector:
        _connect(uow, volume, attachment_id, cmd.connector)
    return {"id": attachment_id, "volume_id": volume.id}


@handler(UpdateAttachment)
def update_attachment(
    cmd: UpdateAttachment, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    volume = load_volume(uow, ctx, cmd.volume_id)
    _connect(uow, volume, str(cmd.attachment_id), cmd.connector)
    return {"id": str(cmd.attachment_id), "volume_id": volume.id}


@handler(CompleteAttachment)
def complete_attachment(
    cmd: CompleteAttachment, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    volume = load_volume(uow, ctx, cmd.volume_id)
    volume.complete(str(cmd.attachment_id), cmd.mountpoint)
    return {"id": str(cmd.attachment_id), "volume_id": volume.id}


@handler(DeleteAttachment)
def delete_attachment(
    cmd: DeleteAttachment, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    """Cinder's delete: the caller (Nova) has already unplugged the disk."""
    volume = load_volume(uow, ctx, cmd.volume_id)
    found = volume.attachment(str(cmd.attachment_id))
    volume.remove_attachment(str(cmd.attachment_id))
    _forget_on_server(uow, str(found["server_id"]), str(volume.id), str(cmd.attachment_id))
    return {"id": str(cmd.attachment_id), "volume_id": volume.id}


@handler(RequestDetach)
def request_detach(
    cmd: RequestDetach, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    volume = load_volume(uow, ctx, cmd.volume_id)
    volume.begin_detach(str(cmd.attachment_id))
    return {"id": str(cmd.attachment_id), "volume_id": volume.id}


@handler(AttachVolumeToServer)
def attach_to_server(
    cmd: AttachVolumeToServer, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    volume = load_volume(uow, ctx, cmd.volume_id)
    server = _server_for_attach(uow, ctx, cmd.server_id)
    if not server.host:
        raise Conflict(f"Cannot 'attach_volume' instance {server.id} while it has no host")
    attachment_id = str(uuid.uuid4())
    volume.reserve(attachment_id, str(server.id))
    server.attach_volume(str(volume.id), attachment_id)
    connect_to_host(uow, volume, attachment_id, server.host, cmd.device)
    return {"id": attachment_id, "volume_id": volume.id}


def release_for_deleted_server(
    uow: UnitOfWork, volume_id: uuid.UUID, server_id: str, discard: bool = False
) -> None:
    """For Nova's server delete handler, in its own transaction: the server's
    attachments of this volume go with it, so none can dangle; with
    `discard` (delete_on_termination) the volume goes too."""
    volume = uow.get(Volume, volume_id)
    if volume is None:
        return
    for attachment_id, found in list(volume.attachments.items()):
        if found["server_id"] == server_id:
            volume.remove_attachment(attachment_id, "the server was deleted")
    if discard and volume.discard() and not volume.host:
        volume.gone()  # never reached a host: no file to remove
