"""Image commands; importing this package registers their handlers."""

from commands.image import images, members, uploads

__all__ = ["images", "members", "uploads"]
