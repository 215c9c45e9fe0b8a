"""Who may do what to an image, in Glance's default policy terms: the facts
the API establishes about the caller, and the answers that depend on them."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import Forbidden, NotFound


class ImageNotFound(NotFound):
    def __init__(self, image_id: object) -> None:
        super().__init__("image", image_id)
        self.message = f"No image found with ID {image_id}"
        self.args = (self.message,)


@dataclass(frozen=True)
class Actor:
    """Who acts, as far as image policy cares: a project, perhaps an admin."""

    project_id: str
    is_admin: bool = False


def check_publicize(actor: Actor, visibility: str) -> None:
    if visibility == "public" and not actor.is_admin:
        raise Forbidden("You are not authorized to complete publicize_image action.")
