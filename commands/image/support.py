"""What every image handler does first: who acts, and the image they name."""

from __future__ import annotations

from uuid import UUID

from commands.context import Context
from commands.unit_of_work import UnitOfWork
from domain.image.images import Actor, Image, ImageNotFound


def actor_of(ctx: Context) -> Actor:
    return Actor(project_id=ctx.project_id or "", is_admin=ctx.is_admin)


def visible_image(uow: UnitOfWork, image_id: UUID, actor: Actor) -> Image:
    """The image if the actor may see it; otherwise it does not exist for them."""
    image = uow.get(Image, image_id)
    if image is None:
        raise ImageNotFound(image_id)
    image.require_visible(actor)
    return image
