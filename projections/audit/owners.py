"""Which project owns a resource, as far as its events tell.

Tenant isolation of the audit log and the event feeds rests on this: a
project member sees the events of resources their project owns. Most
resources name their project in their creation event (`project_id`, or
`tenant_id` in OpenStack's older spelling); a few identity resources are
owned by a project in another way, listed here. Pure: no I/O, so replay
gives the same owners.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

OWNER_FIELDS = ("project_id", "tenant_id")
# A project owns itself, so its members see it being renamed or disabled.
SELF_OWNED_TOPICS = frozenset({"domain.identity.projects:Project.Created"})
ASSIGNMENT_TOPIC = "domain.identity.assignments:RoleAssignment.Created"


def as_id(value: Any) -> str | None:
    """Ids as the audit index stores them: 32 hex digits, or as given."""
    if value is None or value == "":
        return None
    if isinstance(value, UUID):
        return value.hex
    text = str(value)
    try:
        return UUID(text).hex
    except ValueError:
        return text


def owner_in(event: object) -> str | None:
    """The owning project this event names, if it names one."""
    topic = get_topic(type(event))
    fields = vars(event)
    if topic in SELF_OWNED_TOPICS:
        return as_id(fields.get("originator_id"))
    if topic == ASSIGNMENT_TOPIC:
        # A grant on a project belongs to that project's history.
        return as_id(fields.get("target_id")) if fields.get("target_type") == "project" else None
    for name in OWNER_FIELDS:
        if name in fields and fields[name] is not None:
            return as_id(fields[name])
    changes = fields.get("changes")
    if isinstance(changes, dict):
        for name in OWNER_FIELDS:
            if changes.get(name) is not None:
                return as_id(changes[name])
    return None
