"""Snapshots of a server to an image (Nova's createImage), and what the
compute agent reports while it takes one.

The API's command saves the queued image and the server's `image_snapshot`
task in one transaction. The agent of the server's host then reports, each
report idempotent: it starts writing (the image goes `saving`), the data is
in the store (`active`, with what the data was), or it failed (the image is
killed and deleted). Whichever way it ends, the server's task clears and its
vm_state stays as it was: a failed snapshot is not a broken server.
"""

from __future__ import annotations

import uuid

from pydantic import Field

from commands.bus import Command, Dependencies, Outcome, handler
from commands.compute.servers import load_server
from commands.context import Context
from commands.image.snapshots import snapshot_image
from commands.unit_of_work import UnitOfWork
from domain.compute.servers import Server
from domain.errors import Forbidden, InvalidInput
from domain.image.images import Image

GONE = "The image was deleted before the snapshot was recorded."


class CreateServerImage(Command):
    server_id: uuid.UUID
    name: str
    metadata: dict[str, str] = Field(default_factory=dict)


class ReportSnapshotUploading(Command):
    server_id: uuid.UUID
    image_id: uuid.UUID


class ReportSnapshotTaken(Command):
    server_id: uuid.UUID
    image_id: uuid.UUID
    size: int
    virtual_size: int | None
    checksum: str
    os_hash_algo: str
    os_hash_value: str


class ReportSnapshotFailed(Command):
    server_id: uuid.UUID
    image_id: uuid.UUID
    reason: str


def _agent(ctx: Context) -> None:
    if not ctx.is_admin:
        raise Forbidden("Only compute agents may report on snapshots.")


def _parts(
    uow: UnitOfWork, server_id: uuid.UUID, image_id: uuid.UUID
) -> tuple[Server | None, Image | None]:
    server = uow.get(Server, server_id)
    if server is not None and server.snapshot_image_id != str(image_id):
        server = None  # another snapshot, or none: this report is about nothing it runs
    return server, uow.get(Image, image_id)


@handler(CreateServerImage)
def create_server_image(
    cmd: CreateServerImage, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    if not ctx.project_id:
        raise InvalidInput("A project-scoped token is needed to create images.")
    server = load_server(uow, ctx, cmd.server_id)
    image_id = uuid.uuid4()
    server.start_snapshot(str(image_id))  # Nova's state rule (409) before anything else
    if not server.image_id:
        raise InvalidInput("Snapshots of volume-backed servers are not supported by Strata yet.")
    snapshot_image(uow, ctx, server, image_id, cmd.name, cmd.metadata)
    return {"id": cmd.server_id, "image_id": image_id}


@handler(ReportSnapshotUploading)
def report_uploading(
    cmd: ReportSnapshotUploading, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    """`go`: whether the agent should write the data (False: the snapshot
    ended meanwhile — deleted server or image, a timeout — or was taken)."""
    _agent(ctx)
    server, image = _parts(uow, cmd.server_id, cmd.image_id)
    if server is None:
        return {"id": cmd.server_id, "go": False}
    if image is None or not image.begin_snapshot_upload():
        if image is not None:
            image.abandon(GONE)
        server.end_snapshot(str(cmd.image_id), GONE)
        return {"id": cmd.server_id, "go": False}
    return {"id": cmd.server_id, "go": True}


@handler(ReportSnapshotTaken)
def report_taken(
    cmd: ReportSnapshotTaken, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    """`recorded`: whether the image took the data (False: the agent removes
    the file, which no image owns)."""
    _agent(ctx)
    server, image = _parts(uow, cmd.server_id, cmd.image_id)
    if server is not None and image is not None:
        # A restarted image service puts a `saving` image whose file it does
        # not see back to queued (api/image/app.py); the data is here now.
        image.begin_snapshot_upload()
    if server is None or image is None or image.status != "saving":
        # Whatever ended the snapshot first (a delete, a timeout) decided its
        # outcome; an image still waiting for this data will never get it.
        if image is not None and server is None:
            image.abandon("The snapshot ended before its data was recorded.")
        if server is not None:
            server.end_snapshot(str(cmd.image_id), GONE)
        return {"id": cmd.server_id, "recorded": False}
    image.finish_upload(
        cmd.size, cmd.virtual_size, cmd.checksum, cmd.os_hash_algo, cmd.os_hash_value
    )
    server.end_snapshot(str(cmd.image_id))
    return {"id": cmd.server_id, "recorded": True}


@handler(ReportSnapshotFailed)
def report_failed(
    cmd: ReportSnapshotFailed, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    _agent(ctx)
    server, image = _parts(uow, cmd.server_id, cmd.image_id)
    if server is None:
        return {"id": cmd.server_id, "changed": False}
    reason = cmd.reason[:255]
    if image is not None:
        image.abandon(reason)
    server.end_snapshot(str(cmd.image_id), reason)
    return {"id": cmd.server_id, "changed": True}
