"""Nova's two-level server state and the status clients see.

Nova keeps a stable `vm_state` (what the server is) and a transient
`task_state` (what is being done to it); the API status is derived from the
pair. Clients and tools wait on that status, so the mapping follows Nova's
own table rather than inventing new words.
"""

from __future__ import annotations

from domain.errors import Conflict

# vm_states
BUILDING = "building"
ACTIVE = "active"
STOPPED = "stopped"
ERROR = "error"
DELETED = "deleted"

# task_states
SCHEDULING = "scheduling"
SPAWNING = "spawning"
BLOCK_DEVICE_MAPPING = "block_device_mapping"  # waiting for volumes made for the boot
POWERING_OFF = "powering-off"
POWERING_ON = "powering-on"
REBOOTING = "rebooting"
REBOOTING_HARD = "rebooting_hard"
DELETING = "deleting"
# A snapshot to an image is being taken (Nova's image_snapshot; its
# image_pending_upload and image_uploading steps are folded into this one).
IMAGE_SNAPSHOT = "image_snapshot"

# power_states (Nova's integers, shown as OS-EXT-STS:power_state)
NOSTATE = 0
RUNNING = 1
PAUSED = 3
SHUTDOWN = 4
CRASHED = 6
POWER_STATES = (NOSTATE, RUNNING, PAUSED, SHUTDOWN, CRASHED)

_STATUS: dict[str, dict[str | None, str]] = {
    ACTIVE: {
        None: "ACTIVE",
        REBOOTING: "REBOOT",
        REBOOTING_HARD: "HARD_REBOOT",
    },
    BUILDING: {None: "BUILD"},
    STOPPED: {None: "SHUTOFF"},
    ERROR: {None: "ERROR"},
    DELETED: {None: "DELETED"},
}

# Every status a list may filter on (Nova answers 400 for anything else).
STATUSES = frozenset(
    {"ACTIVE", "BUILD", "SHUTOFF", "ERROR", "DELETED", "REBOOT", "HARD_REBOOT", "UNKNOWN"}
)


def server_status(vm_state: str, task_state: str | None) -> str:
    """The API status of a (vm_state, task_state) pair, as Nova derives it."""
    by_task = _STATUS.get(vm_state)
    if by_task is None:
        return "UNKNOWN"
    return by_task.get(task_state, by_task[None])


def vm_states_of(status: str) -> list[str]:
    """The vm_states a status filter means (for SQL filtering on vm_state)."""
    return [vm for vm, tasks in _STATUS.items() if status in tasks.values()]


def require_state(
    server_id: object,
    action: str,
    vm_state: str,
    task_state: str | None,
    vm_states: tuple[str, ...],
    task_states: tuple[str | None, ...] = (None,),
) -> None:
    """Nova's `check_instance_state`: the same rule and the same message."""
    if vm_state not in vm_states:
        raise Conflict(f"Cannot '{action}' instance {server_id} while it is in vm_state {vm_state}")
    if task_state not in task_states:
        raise Conflict(
            f"Cannot '{action}' instance {server_id} while it is in task_state {task_state}"
        )
