"""The mapping from a stored event to a bus subject and CloudEvent."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Notification

from domain.claims import NameClaim
from domain.identity.assignments import RoleAssignment
from domain.identity.projects import Project
from domain.identity.roles import Role
from domain.identity.users import User
from infra.envelope import (
    REDACTED,
    cloudevent,
    encode,
    iso_utc,
    json_safe,
    name_parts,
    snake_case,
    subject_for_topic,
)
from infra.eventstore import MetadataMapper, make_transcoder

META: dict[str, Any] = {
    "user_id": "u1",
    "project_id": "p1",
    "request_id": "req-1",
    "source": "api",
    "idempotency_key": None,
}


def stored(aggregate: Aggregate, first_id: int = 41) -> list[tuple[Notification, Any]]:
    """Round-trip an aggregate's pending events through the real mapper, as
    the relay sees them: (notification, decoded event)."""
    mapper = MetadataMapper(transcoder=make_transcoder())
    pairs = []
    for offset, event in enumerate(aggregate.collect_events()):
        record = mapper.to_stored_event_with_meta(event, META)
        notification = Notification(
            id=first_id + offset,
            originator_id=record.originator_id,
            originator_version=record.originator_version,
            topic=record.topic,
            state=record.state,
        )
        pairs.append((notification, mapper.to_domain_event(notification)))
    return pairs


def new_user(password_hash: str | None = "$argon2id$secret") -> User:
    return User(
        domain_id=uuid.uuid4(),
        name="alice",
        enabled=True,
        description="",
        email=None,
        default_project_id=None,
        password_hash=password_hash,
        extra={"nested": {"secret_hash": "x"}},
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Created", "created"),
        ("PasswordChanged", "password_changed"),
        ("RoleAssignment", "role_assignment"),
        ("HTTPRoute", "http_route"),
        ("IPv6Subnet", "i_pv6_subnet"),
    ],
)
def test_snake_case(name: str, expected: str) -> None:
    assert snake_case(name) == expected


@pytest.mark.parametrize(
    ("topic", "subject"),
    [
        ("domain.identity.projects:Project.Created", "strata.events.identity.project.created"),
        (
            "domain.identity.assignments:RoleAssignment.Granted",
            "strata.events.identity.role_assignment.granted",
        ),
        (
            "domain.identity.users:User.PasswordChanged",
            "strata.events.identity.user.password_changed",
        ),
        ("domain.claims:NameClaim.Taken", "strata.events.internal.name_claim.taken"),
        (
            "domain.idempotency:IdempotencyRecord.Created",
            "strata.events.internal.idempotency_record.created",
        ),
        ("domain.compute.servers:Server.Created", "strata.events.compute.server.created"),
        ("somewhere.else:Thing.Happened", "strata.events.internal.thing.happened"),
    ],
)
def test_subject_for_topic(topic: str, subject: str) -> None:
    assert subject_for_topic(topic) == subject


def test_subject_tokens_never_contain_separators_or_wildcards() -> None:
    service, resource, event = name_parts("domain.we ird.x:A*B.C>D")
    for token in (service, resource, event):
        assert not set(token) & {".", "*", ">", " "}


def test_project_subject_follows_its_topic() -> None:
    project = Project(
        domain_id=uuid.uuid4(),
        name="demo",
        description="",
        enabled=True,
        parent_id=None,
        tags=["a"],
        extra={},
    )
    ((notification, event),) = stored(project)
    assert notification.topic == "domain.identity.projects:Project.Created"
    subject, payload = encode(notification, event)
    assert subject == "strata.events.identity.project.created"
    assert json.loads(payload)["data"]["tags"] == ["a"]


def test_envelope_fields() -> None:
    role = Role(name="admin", domain_id=None, description="all")
    ((notification, event),) = stored(role)
    envelope = cloudevent(notification, event)

    assert envelope["specversion"] == "1.0"
    assert envelope["id"] == "41"
    assert envelope["source"] == "strata"
    assert envelope["type"] == "strata.identity.role.created"
    assert envelope["subject"] == role.id.hex
    assert envelope["datacontenttype"] == "application/json"
    assert envelope["strataversion"] == 1
    assert envelope["stratanotificationid"] == 41
    assert envelope["stratameta"] == META
    assert envelope["time"].endswith("Z")
    assert datetime.fromisoformat(envelope["time"].replace("Z", "+00:00")) == event.timestamp
    data = envelope["data"]
    assert data["name"] == "admin"
    assert data["domain_id"] is None
    assert data["description"] == "all"
    assert data["originator_id"] == role.id.hex
    assert "_meta" not in data
    assert "originator_topic" not in data


def test_encode_gives_subject_and_json_bytes() -> None:
    role = Role(name="reader", domain_id=uuid.uuid4(), description="")
    role.update(description="reads")
    pairs = stored(role, first_id=7)
    subjects = [encode(n, e, source="test-cloud")[0] for n, e in pairs]
    assert subjects == [
        "strata.events.identity.role.created",
        "strata.events.identity.role.updated",
    ]
    _, payload = encode(*pairs[1], source="test-cloud")
    envelope = json.loads(payload)
    assert envelope["source"] == "test-cloud"
    assert envelope["id"] == "8"
    assert envelope["strataversion"] == 2
    assert envelope["data"]["changes"] == {"description": "reads"}


def test_uuid_fields_become_hex() -> None:
    actor, target, role_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assignment = RoleAssignment("user", actor, "project", target, role_id, False)
    ((notification, event),) = stored(assignment)
    envelope = cloudevent(notification, event)
    assert envelope["type"] == "strata.identity.role_assignment.created"
    assert envelope["data"]["actor_id"] == actor.hex
    assert envelope["data"]["role_id"] == role_id.hex


def test_internal_aggregates() -> None:
    claim = NameClaim(kind="role", scope="", key="admin", owner_id=uuid.uuid4())
    ((notification, event),) = stored(claim)
    subject, _ = encode(notification, event)
    assert subject == "strata.events.internal.name_claim.created"


def test_password_and_secret_hashes_never_leave() -> None:
    user = new_user()
    user.change_password("$argon2id$new")
    user.update(password_hash="$argon2id$sneaky")
    payloads = [encode(n, e)[1] for n, e in stored(user)]
    for payload in payloads:
        assert b"argon2" not in payload
    created, changed, updated = (json.loads(p)["data"] for p in payloads)
    assert created["password_hash"] == REDACTED
    assert created["extra"]["nested"]["secret_hash"] == REDACTED
    assert changed["password_hash"] == REDACTED
    assert updated["changes"]["password_hash"] == REDACTED


def test_missing_meta_falls_back_to_system() -> None:
    role = Role(name="x", domain_id=None, description="")
    ((notification, event),) = stored(role)
    del vars(event)["_meta"]
    assert cloudevent(notification, event)["stratameta"]["user_id"] == "system"


def test_json_safe_values() -> None:
    value = uuid.uuid4()
    moment = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    converted = json_safe(
        {"id": value, "at": moment, "n": Decimal("1.50"), "s": {3}, "t": (1, "a"), 4: b"\x00"}
    )
    assert converted == {
        "id": value.hex,
        "at": "2024-05-06T05:08:09.123456Z",
        "n": "1.50",
        "s": [3],
        "t": [1, "a"],
        "4": "AA==",
    }
    json.dumps(converted)


def test_iso_utc_treats_naive_as_utc() -> None:
    assert iso_utc(datetime(2024, 1, 1)) == "2024-01-01T00:00:00Z"
    assert iso_utc(datetime(2024, 1, 1, tzinfo=UTC)) == "2024-01-01T00:00:00Z"
