"""What a server needs to know about its image, read from the image service.

The image aggregate is loaded in the server's own transaction (one log for
the whole cloud), so "the image exists, is active and is visible" holds at
the moment the server is saved — no read model lag, no window.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from commands.context import Context
from commands.unit_of_work import UnitOfWork
from domain.errors import InvalidInput
from domain.image.images import Actor, Image

GIB = 1024**3


@dataclass(frozen=True)
class ImageFacts:
    id: str
    size: int
    min_disk: int
    min_ram: int
    properties: dict[str, str] = field(default_factory=dict)


def image_facts(uow: UnitOfWork, image_ref: str, ctx: Context) -> ImageFacts:
    """The image a server boots from (Nova answers 400 for every problem)."""
    try:
        image_id = uuid.UUID(image_ref)
    except ValueError as error:
        raise InvalidInput(f"Image {image_ref} could not be found.") from error
    image = uow.get(Image, image_id)
    if image is None or not image.visible_to(Actor(ctx.project_id or "", ctx.is_admin)):
        raise InvalidInput(f"Image {image_ref} could not be found.")
    if image.status != "active":
        raise InvalidInput(f"Image {image_ref} is not active.")
    return ImageFacts(
        id=str(image.id),
        size=int(image.size or 0),
        min_disk=int(image.min_disk or 0),
        min_ram=int(image.min_ram or 0),
        properties={str(k): str(v) for k, v in (image.properties or {}).items()},
    )


def check_flavor_fits(flavor: dict[str, int], image: ImageFacts) -> None:
    """Nova's checks of a flavor against its image, with Nova's messages."""
    if image.min_ram and flavor["ram"] < image.min_ram:
        raise InvalidInput("Flavor's memory is too small for requested image.")
    disk_bytes = flavor["disk"] * GIB
    if flavor["disk"] == 0:
        return  # a zero disk means "as large as the image" in Nova
    if image.size > disk_bytes:
        raise InvalidInput(
            "Flavor's disk is too small for requested image. Flavor disk is "
            f"{disk_bytes} bytes, image is {image.size} bytes."
        )
    if image.min_disk * GIB > disk_bytes:
        raise InvalidInput(
            "Flavor's disk is smaller than the minimum size specified in image metadata. "
            f"Flavor disk is {disk_bytes} bytes, minimum size is {image.min_disk * GIB} bytes."
        )
