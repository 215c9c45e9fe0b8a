"""Attachments of a volume to servers, kept on the volume (Volume inherits this).

Cinder's 3.27+ flow: create (reserved) → update with the host's connector
(attaching, connection info decided) → complete (attached); delete removes it.
A compute agent hot-plugs attachments that are `attaching` and reports them
attached; it unplugs those `detaching` and reports them gone. Because the
volume status is derived from its attachments in the same event, the volume
and its attachments can never disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from domain.base import Resource
from domain.errors import Conflict, InvalidInput, NotFound
from domain.volume import states as s

MODES = ("rw", "ro")


class AttachmentNotFound(NotFound):
    def __init__(self, attachment_id: object) -> None:
        super().__init__("attachment", attachment_id)
        self.message = f"VolumeAttachment {attachment_id} could not be found."
        self.args = (self.message,)


class Attachable(Resource):
    if TYPE_CHECKING:  # set by Volume.__init__; class annotations would become fields
        status: str
        multiattach: bool
        freezes: list[str]
        attachments: dict[str, dict[str, Any]]

    def attachment(self, attachment_id: str) -> dict[str, Any]:
        found = self.attachments.get(attachment_id)
        if found is None:
            raise AttachmentNotFound(attachment_id)
        return found

    class AttachmentReserved(Aggregate.Event):
        class_version = 1
        attachment_id: str
        server_id: str
        mode: str

        def apply(self, aggregate: Aggregate) -> None:
            volume: Attachable = aggregate  # type: ignore[assignment]
            volume.attachments = {
                **volume.attachments,
                self.attachment_id: {
                    "server_id": self.server_id,
                    "mode": self.mode,
                    "status": s.ATTACH_RESERVED,
                    "host": None,
                    "connector": {},
                    "connection_info": {},
                    "mountpoint": None,
                    "attached_at": None,
                },
            }
            volume._derive_status()

    def reserve(
        self, attachment_id: str, server_id: str, mode: str = "rw", while_creating: bool = False
    ) -> None:
        """`while_creating`: a volume made for a server's boot is reserved for
        it in the same transaction that creates it, before its file exists."""
        self.require_alive()
        if mode not in MODES:
            raise InvalidInput(f"Invalid input received: Invalid attach mode '{mode}'.")
        if self.freezes:
            raise Conflict(
                f"Invalid volume: Volume {self.id} cannot be attached while a snapshot or "
                "clone of it is being created."
            )
        busy: tuple[str, ...] = (s.AVAILABLE, s.RESERVED, s.IN_USE, s.ATTACHING)
        if while_creating:
            busy = (*busy, s.CREATING)
        s.require("volume", self.id, "attach", self.status, busy)
        if self.attachments and not self.multiattach:
            raise InvalidInput(
                f"Invalid volume: Volume {self.id} status must be available to reserve, "
                f"but the current status is: {self.status} (it is not multiattach)."
            )
        if any(a["server_id"] == server_id for a in self.attachments.values()):
            raise InvalidInput(
                f"Invalid volume: Volume {self.id} is already attached to server {server_id}."
            )
        self.trigger_event(
            self.AttachmentReserved, attachment_id=attachment_id, server_id=server_id, mode=mode
        )

    class AttachmentConnected(Aggregate.Event):
        class_version = 1
        attachment_id: str
        host: str | None
        connector: dict[str, Any]
        connection_info: dict[str, Any]
        mountpoint: str | None

        def apply(self, aggregate: Aggregate) -> None:
            volume: Attachable = aggregate  # type: ignore[assignment]
            volume._set(
                self.attachment_id,
                status=s.ATTACH_ATTACHING,
                host=self.host,
                connector=self.connector,
                connection_info=self.connection_info,
                mountpoint=self.mountpoint,
            )

    def connect(
        self,
        attachment_id: str,
        connector: dict[str, Any],
        connection_info: dict[str, Any],
    ) -> None:
        self.require_alive()
        current = self.attachment(attachment_id)
        if current["status"] not in (s.ATTACH_RESERVED, s.ATTACH_ATTACHING):
            raise Conflict(
                f"Invalid attachment: attachment {attachment_id} status must be reserved to "
                f"update, but current status is: {current['status']}."
            )
        host = connector.get("host")
        # Triggered by name (not @event) so the event is Volume's own class:
        # events declared on a base are re-created for each subclass.
        self.trigger_event(
            self.AttachmentConnected,
            attachment_id=attachment_id,
            host=str(host) if host else None,
            connector=connector,
            connection_info=connection_info,
            mountpoint=connector.get("mountpoint"),
        )

    class AttachmentCompleted(Aggregate.Event):
        class_version = 1
        attachment_id: str
        mountpoint: str | None

        def apply(self, aggregate: Aggregate) -> None:
            volume: Attachable = aggregate  # type: ignore[assignment]
            current = volume.attachments[self.attachment_id]
            volume._set(
                self.attachment_id,
                status=s.ATTACHED,
                mountpoint=self.mountpoint or current["mountpoint"],
                attached_at=self.timestamp,
            )

    def complete(self, attachment_id: str, mountpoint: str | None = None) -> None:
        self.require_alive()
        current = self.attachment(attachment_id)
        if current["status"] == s.ATTACHED:
            return  # a repeated report changes nothing
        if current["status"] != s.ATTACH_ATTACHING:
            raise Conflict(
                f"Invalid attachment: attachment {attachment_id} status must be attaching to "
                f"complete, but current status is: {current['status']}."
            )
        self.trigger_event(
            self.AttachmentCompleted, attachment_id=attachment_id, mountpoint=mountpoint
        )

    class DetachRequested(Aggregate.Event):
        class_version = 1
        attachment_id: str

        def apply(self, aggregate: Aggregate) -> None:
            volume: Attachable = aggregate  # type: ignore[assignment]
            volume._set(self.attachment_id, status=s.ATTACH_DETACHING)

    def begin_detach(self, attachment_id: str) -> None:
        """Ask the server's compute agent to unplug the disk first (Nova's path)."""
        self.require_alive()
        if self.attachment(attachment_id)["status"] != s.ATTACH_DETACHING:
            self.trigger_event(self.DetachRequested, attachment_id=attachment_id)

    class DetachFailed(Aggregate.Event):
        """The guest never released the disk: the attachment stands again
        (Nova's detach failure puts the volume back in-use)."""

        class_version = 1
        attachment_id: str
        reason: str

        def apply(self, aggregate: Aggregate) -> None:
            volume: Attachable = aggregate  # type: ignore[assignment]
            volume._set(self.attachment_id, status=s.ATTACHED)

    def detach_failed(self, attachment_id: str, reason: str) -> None:
        """A repeated or late report (no longer detaching) changes nothing."""
        self.require_alive()
        current = self.attachments.get(attachment_id)
        if current is not None and current["status"] == s.ATTACH_DETACHING:
            self.trigger_event(self.DetachFailed, attachment_id=attachment_id, reason=reason)

    class AttachmentRemoved(Aggregate.Event):
        class_version = 1
        attachment_id: str
        reason: str

        def apply(self, aggregate: Aggregate) -> None:
            volume: Attachable = aggregate  # type: ignore[assignment]
            volume.attachments = {
                k: v for k, v in volume.attachments.items() if k != self.attachment_id
            }
            volume._derive_status()

    def remove_attachment(self, attachment_id: str, reason: str = "") -> None:
        """Detached, deleted, or failed to attach (then `reason` says why)."""
        self.require_alive()
        if attachment_id in self.attachments:
            self.trigger_event(self.AttachmentRemoved, attachment_id=attachment_id, reason=reason)

    def _set(self, attachment_id: str, **changes: Any) -> None:
        updated = {**self.attachments[attachment_id], **changes}
        self.attachments = {**self.attachments, attachment_id: updated}
        self._derive_status()

    def _derive_status(self) -> None:
        if self.status in (s.AVAILABLE, s.RESERVED, s.ATTACHING, s.IN_USE, s.DETACHING):
            statuses = [a["status"] for a in self.attachments.values()]
            self.status = s.status_from_attachments(statuses)
