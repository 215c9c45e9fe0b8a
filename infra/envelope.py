"""How one event of the log looks on the bus: a subject and a CloudEvent.

Pure functions, so the relay, tests and any consumer-side tooling agree on
the mapping without a bus or a database. Subjects are hierarchical
(`strata.events.<service>.<resource>.<event>`) so subscribers can filter
with NATS wildcards, e.g. `strata.events.identity.user.*`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from infra.eventstore import META_KEY, event_meta

SUBJECT_ROOT = "strata.events"
DEFAULT_SOURCE = "strata"
# Modules directly under `domain` (claims, idempotency) hold bookkeeping
# aggregates that belong to no OpenStack service.
INTERNAL_SERVICE = "internal"
REDACTED = "***"
# Hashes are useless to subscribers and must never leave the database: a
# stream is far easier to read than the event table.
SECRET_FIELDS = frozenset({"password_hash", "secret_hash", "secret"})
# Already carried by the envelope itself, or meaningless outside Python.
_NOT_DATA = frozenset({META_KEY, "originator_topic"})

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# A subject token must not contain `.`, wildcards or whitespace.
_UNSAFE_TOKEN_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def snake_case(name: str) -> str:
    """`PasswordChanged` → `password_changed`, `HTTPRoute` → `http_route`."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def _token(text: str) -> str:
    return _UNSAFE_TOKEN_CHARS.sub("_", text) or "_"


def name_parts(topic: str) -> tuple[str, str, str]:
    """(service, resource, event) from a topic like `domain.x.y:Agg.Event`."""
    module, _, qualname = topic.partition(":")
    path = module.split(".")
    service = path[1] if len(path) >= 3 and path[0] == "domain" else INTERNAL_SERVICE
    names = qualname.split(".")
    resource = names[-2] if len(names) >= 2 else names[0]
    return _token(service), _token(snake_case(resource)), _token(snake_case(names[-1]))


def subject_for_topic(topic: str) -> str:
    service, resource, event = name_parts(topic)
    return f"{SUBJECT_ROOT}.{service}.{resource}.{event}"


def type_for_topic(topic: str) -> str:
    service, resource, event = name_parts(topic)
    return f"strata.{service}.{resource}.{event}"


def iso_utc(moment: datetime) -> str:
    """ISO-8601 with a `Z`; naive datetimes are taken to be UTC already."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def json_safe(value: Any) -> Any:
    """A copy of `value` that `json.dumps` accepts, secrets redacted."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, UUID):
        return value.hex
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return json_safe(value.value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): REDACTED if k in SECRET_FIELDS else json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    return str(value)


def id_hex(originator_id: UUID | str) -> str:
    # Recorders return UUIDs, but the library's type also allows strings.
    return originator_id.hex if isinstance(originator_id, UUID) else UUID(originator_id).hex


def event_data(event: object) -> dict[str, Any]:
    """The event's own fields, JSON-safe; nested dicts (an Updated event's
    `changes`) are redacted too, since they may carry a new hash."""
    fields = {k: v for k, v in vars(event).items() if k not in _NOT_DATA}
    data: dict[str, Any] = json_safe(fields)
    return data


def cloudevent(
    notification: Notification, event: object, source: str = DEFAULT_SOURCE
) -> dict[str, Any]:
    """The CloudEvents 1.0 structured-mode envelope, as a dict."""
    topic = get_topic(type(event))
    timestamp = getattr(event, "timestamp", None)
    return {
        "specversion": "1.0",
        "id": str(notification.id),
        "source": source,
        "type": type_for_topic(topic),
        "subject": id_hex(notification.originator_id),
        "time": iso_utc(timestamp) if isinstance(timestamp, datetime) else None,
        "datacontenttype": "application/json",
        "data": event_data(event),
        "strataversion": notification.originator_version,
        "stratanotificationid": notification.id,
        "stratameta": json_safe(event_meta(event)),
    }


def encode(
    notification: Notification, event: object, source: str = DEFAULT_SOURCE
) -> tuple[str, bytes]:
    """(subject, JSON bytes) ready to publish.

    The subject comes from the decoded event's class rather than the stored
    topic, so a renamed (and re-registered) class publishes under its
    current name.
    """
    envelope = cloudevent(notification, event, source)
    payload = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
    return subject_for_topic(get_topic(type(event))), payload.encode("utf-8")
