"""A volume: its size and origin, the storage host holding its file, its status
and its attachments to servers.

The API records intents (create, extend, delete, attach); the storage agent of
the volume's host reports outcomes (provisioned, extended, gone, failed with
a reason). Attachments live on the volume itself, so Cinder's attachments and
Nova's view of a server's volumes are projections of the same events and can
never disagree.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, InvalidInput
from domain.volume import states as s
from domain.volume.uploads import Uploadable

MAX_SIZE_GB = 16 * 1024


def check_size(size: int, minimum: int = 1) -> int:
    if size < 1 or size > MAX_SIZE_GB:
        raise InvalidInput(
            f"Invalid input received: Volume size '{size}' must be an integer and greater than 0."
        )
    if size < minimum:
        raise InvalidInput(
            f"Invalid input received: Volume size '{size}'GB cannot be smaller than the "
            f"source size '{minimum}'GB."
        )
    return size


def check_metadata(metadata: dict[str, str]) -> dict[str, str]:
    for key, value in metadata.items():
        if not isinstance(key, str) or not 0 < len(key) <= 255:
            raise InvalidInput("Invalid input received: metadata key must be 1 to 255 characters.")
        if not isinstance(value, str) or len(value) > 255:
            raise InvalidInput(f"Invalid input received: metadata value of {key} is too long.")
    return dict(sorted(metadata.items()))


class Volume(Uploadable):
    class Created(Aggregate.Created):
        class_version = 1
        project_id: str
        user_id: str
        name: str | None
        description: str | None
        size: int
        availability_zone: str
        volume_type: dict[str, Any]
        metadata: dict[str, str]
        multiattach: bool
        bootable: bool
        source: dict[str, Any]
        host: str

    @event(Created)
    def __init__(
        self,
        project_id: str,
        user_id: str,
        name: str | None,
        description: str | None,
        size: int,
        availability_zone: str,
        volume_type: dict[str, Any],
        metadata: dict[str, str],
        multiattach: bool,
        bootable: bool,
        source: dict[str, Any],
        host: str,
    ) -> None:
        self.project_id = project_id
        self.user_id = user_id
        self.name = name
        self.description = description
        self.size = size
        self.availability_zone = availability_zone
        self.volume_type = volume_type
        self.metadata = metadata
        self.multiattach = multiattach
        self.bootable = bootable
        # {"kind": "empty" | "image" | "snapshot" | "volume", "id": ..., facts}
        self.source = source
        self.host = host
        self.status = s.CREATING
        self.reason: str | None = None
        self.target_size = size
        self.snapshot_ids: list[str] = []
        # Snapshots or clones whose point-in-time copy of this volume's file
        # is still being taken: the file must stay put (no attach, no extend).
        self.freezes: list[str] = []
        self.attachments: dict[str, dict[str, Any]] = {}
        self.upload: dict[str, Any] | None = None  # {image_id, disk_format} while uploading

    # -- what clients change ----------------------------------------------------
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

    def set_bootable(self, bootable: bool) -> None:
        self._apply_changes({"bootable": bootable})

    class ExtendRequested(Aggregate.Event):
        class_version = 1
        new_size: int

    def extend(self, new_size: int) -> None:
        self.require_alive()
        s.require("volume", self.id, "extend", self.status, (s.AVAILABLE,))
        self._not_frozen("extend")
        if new_size <= self.size:
            raise InvalidInput(
                f"Invalid input received: New size for extend must be greater than current "
                f"size. (current: {self.size}, extended: {new_size})."
            )
        check_size(new_size)
        self._extend(new_size)

    @event(ExtendRequested)
    def _extend(self, new_size: int) -> None:
        self.status, self.target_size = s.EXTENDING, new_size

    class DeleteRequested(Aggregate.Event):
        class_version = 1

    def request_delete(self) -> None:
        self.require_alive()
        if self.status == s.DELETING:
            return
        if self.attachments:
            raise Conflict(
                f"Invalid volume: Volume {self.id} status must be available or error or "
                f"error_restoring or error_extending or error_managing and must not be "
                f"migrating, attached, belong to a group, have snapshots, awaiting a transfer, "
                f"or be disassociated from snapshots after volume transfer, but current status "
                f"is: {self.status}."
            )
        s.require("volume", self.id, "delete", self.status, s.DELETABLE)
        if self.snapshot_ids:
            raise InvalidInput(
                f"Invalid volume: Volume {self.id} still has {len(self.snapshot_ids)} "
                "dependent snapshots."
            )
        self._not_frozen("delete")
        self._delete_requested()

    @event(DeleteRequested)
    def _delete_requested(self) -> None:
        self.status = s.DELETING

    def discard(self) -> bool:
        """Deleted with its server (Nova's delete_on_termination), its
        attachments already removed: also while it is still being created
        (the storage agent removes whatever file a creation left). False when
        it must stay: snapshots depend on it or a copy of it is being taken."""
        self.require_alive()
        if self.status == s.DELETING:
            return True
        if self.attachments or self.snapshot_ids or self.freezes:
            return False
        if self.status not in (*s.DELETABLE, s.CREATING):
            return False
        self._delete_requested()
        return True

    class StatusReset(Aggregate.Event):
        class_version = 1
        status: str

    def reset_status(self, status: str) -> None:
        self.require_alive()
        if status not in s.RESETTABLE:
            raise InvalidInput(f"Invalid input received: '{status}' is not a valid status.")
        if status != self.status:
            self._reset(status)

    @event(StatusReset)
    def _reset(self, status: str) -> None:
        self.status, self.target_size = status, self.size

    # -- snapshots and clones: the file is frozen while they are taken ---------
    class SnapshotsChanged(Aggregate.Event):
        class_version = 1
        snapshot_ids: list[str]

    def add_snapshot(self, snapshot_id: str) -> None:
        self.require_alive()
        s.require("volume", self.id, "create a snapshot", self.status, (s.AVAILABLE,))
        self._snapshots([*self.snapshot_ids, snapshot_id])
        self.freeze(snapshot_id, "snapshot")

    def remove_snapshot(self, snapshot_id: str) -> None:
        if snapshot_id in self.snapshot_ids:
            self._snapshots([i for i in self.snapshot_ids if i != snapshot_id])
        self.thaw(snapshot_id)

    @event(SnapshotsChanged)
    def _snapshots(self, snapshot_ids: list[str]) -> None:
        self.snapshot_ids = snapshot_ids

    class FreezesChanged(Aggregate.Event):
        class_version = 1
        freezes: list[str]

    def freeze(self, for_id: str, what: str) -> None:
        self.require_alive()
        s.require("volume", self.id, f"create a {what} of it", self.status, (s.AVAILABLE,))
        if for_id not in self.freezes:
            self._freezes([*self.freezes, for_id])

    def thaw(self, for_id: str) -> None:
        if for_id in self.freezes:
            self._freezes([i for i in self.freezes if i != for_id])

    @event(FreezesChanged)
    def _freezes(self, freezes: list[str]) -> None:
        self.freezes = freezes

    def _not_frozen(self, action: str) -> None:
        if self.freezes:
            raise Conflict(
                f"Invalid volume: Volume {self.id} cannot {action} while a snapshot or clone "
                "of it is being created."
            )

    # -- outcomes the storage agent reports ---------------------------------------
    class Provisioned(Aggregate.Event):
        class_version = 1
        size: int

    def provisioned(self) -> None:
        self.require_alive()
        if self.status == s.CREATING:
            self._provisioned(self.size)

    @event(Provisioned)
    def _provisioned(self, size: int) -> None:
        # A volume made for a server's boot was reserved for it while being
        # created: it becomes `reserved`, not `available`.
        self.status, self.reason = s.AVAILABLE, None
        self._derive_status()

    class Extended(Aggregate.Event):
        class_version = 1
        size: int

    def extended(self, size: int) -> None:
        self.require_alive()
        if self.status == s.EXTENDING and size == self.target_size:
            self._extended(size)

    @event(Extended)
    def _extended(self, size: int) -> None:
        self.status, self.size, self.reason = s.AVAILABLE, size, None

    class Failed(Aggregate.Event):
        class_version = 1
        status: str
        reason: str

    def fail(self, reason: str) -> None:
        """The agent could not do what the status asks; the status says what failed."""
        self.require_alive()
        status = {
            s.DELETING: s.ERROR_DELETING,
            s.EXTENDING: s.ERROR_EXTENDING,
        }.get(self.status, s.ERROR)
        if status != self.status or reason != self.reason:
            self._failed(status, reason)

    @event(Failed)
    def _failed(self, status: str, reason: str) -> None:
        self.status, self.reason, self.target_size = status, reason, self.size

    def gone(self) -> None:
        """The agent removed the file of a volume being deleted."""
        if not self.deleted and self.status == s.DELETING:
            self.delete()
