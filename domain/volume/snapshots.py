"""A snapshot: a point-in-time copy of a volume, kept as a read-only file that
the volume (and volumes made from the snapshot) use as their backing file.

creating → available (the storage agent froze the volume's file) or error;
available/error → deleting → gone (the agent let go of the file).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.base import Resource
from domain.errors import InvalidInput
from domain.volume import states as s
from domain.volume.volumes import check_metadata


class Snapshot(Resource):
    class Created(Aggregate.Created):
        class_version = 1
        project_id: str
        user_id: str
        volume_id: str
        name: str | None
        description: str | None
        size: int
        metadata: dict[str, str]
        host: str

    @event(Created)
    def __init__(
        self,
        project_id: str,
        user_id: str,
        volume_id: str,
        name: str | None,
        description: str | None,
        size: int,
        metadata: dict[str, str],
        host: str,
    ) -> None:
        self.project_id = project_id
        self.user_id = user_id
        self.volume_id = volume_id
        self.name = name
        self.description = description
        self.size = size
        self.metadata = metadata
        self.host = host
        self.status = s.SNAP_CREATING
        self.reason: str | None = None

    def update_details(
        self,
        name: str | None = None,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        changes: dict[str, Any] = {}
        if name is not None:
            if len(name) > 255:
                raise InvalidInput("Invalid input received: name must be at most 255 characters.")
            changes["name"] = name
        if description is not None:
            changes["description"] = description
        if metadata is not None:
            changes["metadata"] = check_metadata(metadata)
        self._apply_changes(changes)

    def require_available(self, action: str) -> None:
        self.require_alive()
        s.require("snapshot", self.id, action, self.status, (s.SNAP_AVAILABLE,))

    class StatusChanged(Aggregate.Event):
        class_version = 1
        status: str
        reason: str | None

    @event(StatusChanged)
    def _status(self, status: str, reason: str | None) -> None:
        self.status, self.reason = status, reason

    def request_delete(self) -> None:
        self.require_alive()
        if self.status == s.SNAP_DELETING:
            return
        allowed = (s.SNAP_AVAILABLE, s.SNAP_ERROR, s.SNAP_ERROR_DELETING)
        s.require("snapshot", self.id, "delete", self.status, allowed)
        self._status(s.SNAP_DELETING, None)

    def reset_status(self, status: str) -> None:
        self.require_alive()
        if status not in s.SNAPSHOT_STATUSES:
            raise InvalidInput(f"Invalid input received: '{status}' is not a valid status.")
        if status != self.status:
            self._status(status, None)

    # -- outcomes the storage agent reports -----------------------------------
    def became_available(self) -> None:
        self.require_alive()
        if self.status == s.SNAP_CREATING:
            self._status(s.SNAP_AVAILABLE, None)

    def fail(self, reason: str) -> None:
        self.require_alive()
        status = s.SNAP_ERROR_DELETING if self.status == s.SNAP_DELETING else s.SNAP_ERROR
        if (status, reason) != (self.status, self.reason):
            self._status(status, reason)

    def gone(self) -> None:
        if not self.deleted and self.status == s.SNAP_DELETING:
            self.delete()
