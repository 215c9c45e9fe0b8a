"""Block storage commands; importing this package registers their handlers."""

from commands.volume import agent, attachments, quotas, snapshots, types, uploads, volumes

__all__ = ["agent", "attachments", "quotas", "snapshots", "types", "uploads", "volumes"]
