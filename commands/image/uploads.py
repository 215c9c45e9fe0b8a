"""The three steps of an upload around the bytes the API streams to the store.

StartUpload claims the image (queued → saving) before any byte is written, so
two concurrent uploads cannot both proceed: the loser's save conflicts and,
retried, finds the image saving (409). Finish records what the data was once
the file is in place; Fail puts the image back when the stream broke.
"""

from __future__ import annotations

from uuid import UUID

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.image.support import actor_of, visible_image
from commands.unit_of_work import UnitOfWork
from domain.image.images import Image, ImageNotFound


class StartUpload(Command):
    image_id: UUID


class FinishUpload(Command):
    image_id: UUID
    size: int
    virtual_size: int | None
    checksum: str
    os_hash_algo: str
    os_hash_value: str


class FailUpload(Command):
    image_id: UUID
    reason: str
    kill: bool = False


@handler(StartUpload)
def start_upload(cmd: StartUpload, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    actor = actor_of(ctx)
    visible_image(uow, cmd.image_id, actor).start_upload(actor)
    return {"id": cmd.image_id}


@handler(FinishUpload)
def finish_upload(cmd: FinishUpload, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    # No visibility check: the upload was authorised when it started, and the
    # image may have been deleted meanwhile (the caller must learn that).
    image = uow.get(Image, cmd.image_id)
    if image is None:
        raise ImageNotFound(cmd.image_id)
    image.finish_upload(
        cmd.size, cmd.virtual_size, cmd.checksum, cmd.os_hash_algo, cmd.os_hash_value
    )
    return {"id": cmd.image_id}


@handler(FailUpload)
def fail_upload(cmd: FailUpload, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    image = uow.get(Image, cmd.image_id)
    changed = image is not None and image.fail_upload(cmd.reason, cmd.kill)
    return {"id": cmd.image_id, "changed": changed}
