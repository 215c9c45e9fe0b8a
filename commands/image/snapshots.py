"""The image side of a server snapshot (Nova's createImage): the queued image
saved with the server's task, and the ways a snapshot's image ends.

The image is built the way Nova builds it: the base image's properties minus
those Nova never passes on, Nova's own snapshot properties, then the user's
metadata (which wins), so the snapshot boots the way its server did
(kernel_id, ramdisk_id, os_command_line come along).
"""

from __future__ import annotations

import uuid
from typing import Any

from commands.context import Context
from commands.image.support import actor_of
from commands.unit_of_work import UnitOfWork
from domain.compute.servers import Server
from domain.image.images import Image

# Nova's non_inheritable_image_properties (its default) and the signature
# properties it always drops: they describe the base image's bytes, not these.
NON_INHERITABLE = frozenset(
    {
        "cache_in_nova",
        "bittorrent",
        "img_signature",
        "img_signature_hash_method",
        "img_signature_key_type",
        "img_signature_certificate_uuid",
    }
)
SNAPSHOT_FORMAT = "qcow2"  # what the agent writes: qemu-img convert -O qcow2


def snapshot_image(
    uow: UnitOfWork,
    ctx: Context,
    server: Server,
    image_id: uuid.UUID,
    name: str,
    metadata: dict[str, str],
) -> Image:
    """The queued image a snapshot of `server` will fill, owned by the caller's
    project: private, or shared with the server's project when an admin
    snapshots someone else's server (Nova's rule)."""
    # A base image deleted since the boot still knows its properties.
    base = uow.get_any(Image, uuid.UUID(server.image_id))
    inherited: dict[str, Any] = dict(base.properties) if base is not None else {}
    properties = {
        k: str(v) for k, v in inherited.items() if k not in NON_INHERITABLE and v is not None
    }
    properties.update(
        {
            "image_type": "snapshot",
            "instance_uuid": str(server.id),
            "base_image_ref": server.image_id,
            "user_id": ctx.user_id,
        }
    )
    owner = ctx.project_id or ""
    foreign = owner != server.project_id
    if foreign:
        properties["instance_owner"] = server.project_id
    properties.update(metadata)
    flavor = server.flavor
    base_min_disk = int(base.min_disk or 0) if base is not None else 0
    base_min_ram = int(base.min_ram or 0) if base is not None else 0
    image = Image.create(
        actor_of(ctx),
        image_id,
        owner=owner,
        name=name,
        visibility="shared" if foreign else "private",
        protected=False,
        os_hidden=False,
        disk_format=SNAPSHOT_FORMAT,
        container_format="bare",
        # Nova: the root disk the server had (never less than its image
        # asked for); the memory its image asked for.
        min_disk=max(base_min_disk, int(flavor.get("disk", 0))),
        min_ram=base_min_ram,
        tags=[],
        properties=properties,
    )
    if foreign:
        image.add_member(actor_of(ctx), server.project_id)
    uow.add(image)
    return image


def abandon_snapshot(uow: UnitOfWork, server: Server, reason: str) -> None:
    """End the server's snapshot in progress, if any, and give up its image
    (a server being deleted: its snapshot has nothing left to read)."""
    image_id = server.snapshot_image_id
    if image_id is None:
        return
    image = uow.get(Image, uuid.UUID(image_id))
    if image is not None:
        image.abandon(reason)
    server.end_snapshot(image_id, reason)
