"""Cinder's volume and snapshot statuses, and the rule that guards each action.

Clients wait on these exact words (openstacksdk compares them case-insensitively
and treats `error` as a failed wait), so they follow Cinder rather than
inventing new ones. An action refused in the wrong state names the state, the
way Cinder's own messages do.
"""

from __future__ import annotations

from domain.errors import Conflict

CREATING = "creating"
AVAILABLE = "available"
RESERVED = "reserved"
ATTACHING = "attaching"
IN_USE = "in-use"
DETACHING = "detaching"
EXTENDING = "extending"
UPLOADING = "uploading"
DELETING = "deleting"
ERROR = "error"
ERROR_DELETING = "error_deleting"
ERROR_EXTENDING = "error_extending"

VOLUME_STATUSES = frozenset(
    {
        CREATING,
        AVAILABLE,
        RESERVED,
        ATTACHING,
        IN_USE,
        DETACHING,
        EXTENDING,
        UPLOADING,
        DELETING,
        ERROR,
        ERROR_DELETING,
        ERROR_EXTENDING,
    }
)
# What os-reset_status may set (an operator repairing a record, not a disk).
RESETTABLE = frozenset({AVAILABLE, ERROR, IN_USE, ERROR_DELETING, ERROR_EXTENDING})
DELETABLE = (AVAILABLE, ERROR, ERROR_DELETING, ERROR_EXTENDING)

# Attachment (attach_status) values, as Cinder's attachments API shows them.
ATTACH_RESERVED = "reserved"
ATTACH_ATTACHING = "attaching"
ATTACHED = "attached"
ATTACH_DETACHING = "detaching"

# Snapshot statuses.
SNAP_CREATING = "creating"
SNAP_AVAILABLE = "available"
SNAP_DELETING = "deleting"
SNAP_ERROR = "error"
SNAP_ERROR_DELETING = "error_deleting"
SNAPSHOT_STATUSES = frozenset(
    {SNAP_CREATING, SNAP_AVAILABLE, SNAP_DELETING, SNAP_ERROR, SNAP_ERROR_DELETING}
)

GIB = 1024**3


def require(kind: str, ident: object, action: str, status: str, allowed: tuple[str, ...]) -> None:
    """Cinder's `Invalid volume: Volume status must be available` family of errors."""
    if status not in allowed:
        wanted = " or ".join(allowed)
        raise Conflict(
            f"Invalid {kind}: {kind.capitalize()} {ident} status must be {wanted} to {action}, "
            f"but current status is: {status}."
        )


def status_from_attachments(attach_statuses: list[str]) -> str:
    """The volume status its attachments imply (none left: available)."""
    for attach, volume in (
        (ATTACHED, IN_USE),
        (ATTACH_DETACHING, DETACHING),
        (ATTACH_ATTACHING, ATTACHING),
        (ATTACH_RESERVED, RESERVED),
    ):
        if attach in attach_statuses:
            return volume
    return AVAILABLE
