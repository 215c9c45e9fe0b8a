"""A volume copied into a new image: the image is created (saving) and the
volume marked uploading in one transaction; the storage agent's report
activates the image and frees the volume in another."""

from __future__ import annotations

import uuid

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.image.support import actor_of
from commands.unit_of_work import UnitOfWork
from commands.volume.agent import agent_only, reported_volume
from commands.volume.support import load_volume
from domain.errors import InvalidInput
from domain.image.images import Image

DISK_FORMATS = ("raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx")


class UploadVolumeToImage(Command):
    volume_id: uuid.UUID
    image_name: str
    disk_format: str = "raw"
    container_format: str = "bare"
    visibility: str = "private"
    protected: bool = False


class ReportVolumeUploaded(Command):
    volume_id: uuid.UUID
    image_id: uuid.UUID
    size: int
    virtual_size: int | None
    checksum: str
    os_hash_algo: str
    os_hash_value: str


class ReportVolumeUploadFailed(Command):
    volume_id: uuid.UUID
    image_id: uuid.UUID
    reason: str


@handler(UploadVolumeToImage)
def upload_to_image(
    cmd: UploadVolumeToImage, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    volume = load_volume(uow, ctx, cmd.volume_id)
    if cmd.disk_format not in DISK_FORMATS:
        raise InvalidInput(f"Invalid input received: Invalid disk-format '{cmd.disk_format}'.")
    actor = actor_of(ctx)
    image = Image.create(
        actor,
        None,
        owner=ctx.project_id or volume.project_id,
        name=cmd.image_name,
        visibility=cmd.visibility,
        protected=cmd.protected,
        os_hidden=False,
        disk_format=cmd.disk_format,
        container_format=cmd.container_format,
        min_disk=volume.size,
        min_ram=0,
        tags=[],
        properties={},
    )
    image.start_upload(actor)
    volume.start_upload(str(image.id), cmd.disk_format)
    uow.add(image)
    return {"id": volume.id, "image_id": image.id}


@handler(ReportVolumeUploaded)
def uploaded(
    cmd: ReportVolumeUploaded, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    agent_only(ctx)
    volume = reported_volume(uow, cmd.volume_id)
    image = uow.get(Image, cmd.image_id)
    if image is not None and image.status == "saving":
        image.finish_upload(
            cmd.size, cmd.virtual_size, cmd.checksum, cmd.os_hash_algo, cmd.os_hash_value
        )
    volume.end_upload(str(cmd.image_id))
    return {"id": volume.id}


@handler(ReportVolumeUploadFailed)
def upload_failed(
    cmd: ReportVolumeUploadFailed, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    agent_only(ctx)
    volume = reported_volume(uow, cmd.volume_id)
    image = uow.get(Image, cmd.image_id)
    if image is not None:
        image.fail_upload(cmd.reason[:255], kill=True)
    volume.end_upload(str(cmd.image_id), cmd.reason[:255])
    return {"id": volume.id}
