"""Copying a volume into a new image (Cinder's os-volume_upload_image).

available → uploading → available: the storage agent converts the volume's
file into the image store and reports the data's facts, which activate the
image in the same transaction that frees the volume. A failed copy frees the
volume too, keeping the reason; the image is killed. Volume inherits this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from domain.volume import states as s
from domain.volume.attachments import Attachable


class Uploadable(Attachable):
    if TYPE_CHECKING:  # set by Volume.__init__; class annotations would become fields
        upload: dict[str, Any] | None
        reason: str | None

    class UploadStarted(Aggregate.Event):
        class_version = 1
        image_id: str
        disk_format: str

        def apply(self, aggregate: Aggregate) -> None:
            volume: Uploadable = aggregate  # type: ignore[assignment]
            volume.status = s.UPLOADING
            volume.upload = {"image_id": self.image_id, "disk_format": self.disk_format}

    def start_upload(self, image_id: str, disk_format: str) -> None:
        self.require_alive()
        s.require("volume", self.id, "upload it to an image", self.status, (s.AVAILABLE,))
        self.trigger_event(self.UploadStarted, image_id=image_id, disk_format=disk_format)

    class UploadEnded(Aggregate.Event):
        class_version = 1
        image_id: str
        reason: str | None

        def apply(self, aggregate: Aggregate) -> None:
            volume: Uploadable = aggregate  # type: ignore[assignment]
            volume.status, volume.upload = s.AVAILABLE, None
            if self.reason:
                volume.reason = self.reason

    def end_upload(self, image_id: str, reason: str | None = None) -> None:
        """The copy is done (or failed, with `reason`); a repeated report changes nothing."""
        self.require_alive()
        if self.status == s.UPLOADING and (self.upload or {}).get("image_id") == image_id:
            self.trigger_event(self.UploadEnded, image_id=image_id, reason=reason)
