"""`strata audit`, `strata show --at`, `strata diff` and `strata project-state`
against a data folder, as an operator runs them."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from commands.webhooks import DeleteWebhook, RegisterWebhook
from infra.settings import Settings
from runtime.cli import main
from tests.integration.test_audit_setup import make_world

Run = Callable[..., tuple[int, str]]


def _now() -> str:
    time.sleep(0.01)
    moment = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    return moment


@pytest.fixture
def history(tmp_path: Path) -> dict[str, Any]:
    """A project renamed twice and a webhook that came and went, with the
    moments in between."""
    world = make_world(Settings(data_dir=tmp_path))
    bus = world.cloud.bus
    project = world.project(world.alice, "cli", request_id="req-cli")
    marks = {"created": _now()}
    world.rename(world.alice, project, "one")
    marks["one"] = _now()
    world.rename(world.alice, project, "two")
    hook = bus.dispatch(
        RegisterWebhook(url="http://127.0.0.1:9/h", secret="h" * 20), world.alice.ctx()
    ).outcome["id"]
    marks["hooked"] = _now()
    bus.dispatch(DeleteWebhook(webhook_id=hook), world.alice.ctx())
    facts = {"project": str(project), "hook": hook.hex, "alice": world.alice, **marks}
    world.cloud.close()
    return facts


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    monkeypatch.setenv("STRATA_DATA_DIR", str(tmp_path))

    def strata(*argv: str) -> tuple[int, str]:
        code = main(list(argv))
        return code, capsys.readouterr().out

    return strata


def test_audit_filters_and_formats(history: dict[str, Any], run: Run) -> None:
    project = history["project"]
    code, table = run("audit", project)  # the positional form still works
    assert code == 0
    assert table.splitlines()[0].split() == [
        "ID",
        "TIME",
        "TYPE",
        "RESOURCE_ID",
        "USER_ID",
        "PROJECT_ID",
        "REQUEST_ID",
    ]
    assert table.count("strata.identity.project.") == 3
    code, text = run("audit", "--resource", project, "--format", "json")
    assert [r["type"].rsplit(".", 1)[1] for r in json.loads(text)] == [
        "created",
        "updated",
        "updated",
    ]
    code, text = run("audit", "--request-id", "req-cli", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["type"] for r in rows} == {
        "strata.identity.project.created",
        "strata.internal.name_claim.created",
    }
    code, text = run(
        "audit",
        "--type",
        "strata.identity.project.updated",
        "--since",
        history["created"],
        "--until",
        history["one"],
        "--format",
        "json",
    )
    assert len(json.loads(text)) == 1
    code, text = run("audit", "--user", history["alice"].user_id, "--format", "json")
    assert {r["user_id"] for r in json.loads(text)} == {history["alice"].user_id}
    code, text = run("audit", "--project", history["alice"].project_id, "--format", "json")
    assert {r["resource_id"] for r in json.loads(text)} >= {history["hook"]}
    assert run("audit", "not-an-id")[0] == 2
    assert run("audit", str(uuid.uuid4()))[0] == 1


def test_show_and_diff_travel_in_time(history: dict[str, Any], run: Run) -> None:
    code, text = run("show", history["project"], "--at", history["one"])
    assert code == 0
    shown = json.loads(text)
    assert shown["state"]["description"] == "one" and shown["version"] == 2
    code, text = run("show", history["project"], "--format", "table")
    assert "state.description  two" in text
    code, text = run(
        "diff",
        history["project"],
        "--from",
        history["created"],
        "--to",
        history["one"],
        "--format",
        "json",
    )
    changes = {c["field"]: (c["before"], c["after"]) for c in json.loads(text)}
    assert changes["description"] == ("", "one")
    assert set(changes) == {"description", "updated_at"}


def test_project_state_lists_what_the_project_had(history: dict[str, Any], run: Run) -> None:
    project = history["alice"].project_id
    code, text = run("project-state", project, "--at", history["hooked"], "--format", "json")
    assert code == 0
    then = {r["id"]: r for r in json.loads(text)}
    assert history["hook"] in then and then[history["hook"]]["state"]["secret"] == "***"
    code, text = run("project-state", project, "--format", "json")
    assert history["hook"] not in {r["id"] for r in json.loads(text)}  # deleted since
    code, table = run("project-state", project)
    assert project in table
