"""Pure parts of audit and time travel: folding, diffs, owners, times, output."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eventsourcing.domain import DomainEventProtocol

from domain.errors import InvalidInput
from domain.identity.assignments import RoleAssignment
from domain.identity.ids import DEFAULT_DOMAIN_ID
from domain.identity.projects import Project
from domain.webhooks import Webhook
from projections.audit.feed import Subscription, runs, type_matches
from projections.audit.owners import owner_in
from projections.audit.timetravel import diff, fold, parse_moment
from runtime.history import render
from workers.webhooks.sender import RetryPolicy, sign, verify


def _project() -> tuple[Project, list[DomainEventProtocol[uuid.UUID]]]:
    project = Project(
        domain_id=DEFAULT_DOMAIN_ID,
        name="p",
        description="",
        enabled=True,
        parent_id=None,
        tags=[],
        extra={},
    )
    project.update(description="one")
    project.update(description="two")
    project.delete()
    return project, list(project.collect_events())


def test_fold_stops_at_the_moment() -> None:
    project, events = _project()
    stamps = [vars(e)["timestamp"] for e in events]
    before = fold(project.id, events, stamps[0] - timedelta(seconds=1))
    assert before is not None and not before.exists
    first = fold(project.id, events, stamps[1])
    assert first is not None and first.version == 2
    assert first.state["description"] == "one" and not first.deleted
    last = fold(project.id, events, stamps[-1])
    assert last is not None and last.deleted and last.state["description"] == "two"
    assert fold(project.id, [], stamps[0]) is None
    changes = {c.field: (c.before, c.after) for c in diff(first, last)}
    assert changes["description"] == ("one", "two") and changes["deleted"] == (False, True)
    assert first.to_dict()["type"] == "project"


def test_owners_come_from_the_event_or_the_resource_kind() -> None:
    project, events = _project()
    assert owner_in(events[0]) == project.id.hex
    assert owner_in(events[1]) is None  # inherited by the projection instead
    target = uuid.uuid4()
    grant = RoleAssignment(
        actor_type="user",
        actor_id=uuid.uuid4(),
        target_type="project",
        target_id=target,
        role_id=uuid.uuid4(),
        inherited=False,
    )
    assert owner_in(grant.collect_events()[0]) == target.hex
    owner = uuid.uuid4()
    hook = Webhook(
        url="https://example.com/h",
        secret="x" * 16,
        project_id=owner,
        user_id="u",
        types=["strata.identity.*"],
        filter_project_id=None,
        filter_resource_id=None,
        description="",
    )
    assert owner_in(hook.collect_events()[0]) == owner.hex


def test_webhooks_refuse_bad_urls_types_and_short_secrets() -> None:
    good: dict[str, Any] = {
        "url": "https://example.com/h",
        "secret": "x" * 16,
        "project_id": None,
        "user_id": "u",
        "types": [],
        "filter_project_id": None,
        "filter_resource_id": None,
        "description": "",
    }
    for change in ({"url": "file:///etc/passwd"}, {"types": ["identity.*"]}, {"secret": "short"}):
        with pytest.raises(InvalidInput):
            Webhook(**{**good, **change})  # type: ignore[arg-type]


def test_moments_types_runs_and_subscriptions() -> None:
    assert parse_moment("2026-01-02T03:04:05Z") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_moment("2026-01-02").tzinfo is UTC
    assert type_matches("strata.identity.*", "strata.identity.user.created")
    assert not type_matches("strata.identity.user.created", "strata.identity.user.updated")
    assert runs([1, 2, 3, 500, 501, 2000]) == [(1, 3), (500, 501), (2000, 2000)]
    row = {"project_id": "a", "resource_id": "r", "event_type": "strata.x.y.z"}
    assert Subscription(types=("strata.x.*",), project_id="a").matches(row)
    assert not Subscription(project_id="b").matches(row)


def test_signatures_and_backoff() -> None:
    signature = sign("secret", b"{}")
    assert signature.startswith("sha256=") and verify("secret", b"{}", signature)
    assert not verify("other", b"{}", signature)
    policy = RetryPolicy(first_delay=1, factor=2, max_delay=5)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]


def test_render_formats() -> None:
    rows = [{"id": 1, "name": "a,b", "extra": None}]
    assert json.loads(render(rows, ("id", "name"), "json")) == rows
    assert render(rows, ("id", "name"), "csv").splitlines() == ["id,name", '1,"a,b"']
    assert render(rows, ("id", "extra"), "table").splitlines() == ["ID  EXTRA", "1   -"]
