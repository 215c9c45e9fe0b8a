"""The README's nats-py subscriber, run verbatim against a real JetStream fed by
the relay: it reads what was published, resumes after a restart without loss
or repetition, and its subject filter keeps other resources out."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.errors import BadRequestError

from domain.identity.roles import Role
from infra.database import open_database
from infra.eventstore import EventStore, open_recorder
from infra.nats_bus import STREAM_SUBJECTS, NatsBus
from infra.settings import Settings
from tests.support.services import NatsProcess, ServiceUnavailableError, start_nats_server
from workers.relay import Relay

README = Path(__file__).resolve().parents[2] / "README.md"
META = {"user_id": "u", "project_id": "p", "request_id": "r", "source": "t"}


def readme_example() -> dict[str, Any]:
    """The first python block after the 'Subscribing with nats-py' heading, executed."""
    text = README.read_text()
    section = text.split("### Subscribing with nats-py", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "the README lost its subscriber example"
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(match.group(1), str(README), "exec"), namespace)
    return namespace


async def _stream_free(url: str) -> bool:
    """Whether no other stream on the server captures `strata.events.>`."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        name = f"PROBE_{uuid.uuid4().hex[:8].upper()}"
        try:
            await js.add_stream(name=name, subjects=[STREAM_SUBJECTS])
        except BadRequestError:
            return False
        await js.delete_stream(name)
        return True
    finally:
        await nc.close()


@pytest.fixture
def nats_url(nats_server_url: str) -> Iterator[str]:
    """The shared server, unless a stream there already owns the subjects
    (a developer's running cloud): then a private one."""
    if asyncio.run(_stream_free(nats_server_url)):
        yield nats_server_url
        return
    try:
        private: NatsProcess = start_nats_server()
    except ServiceUnavailableError as exc:
        pytest.skip(f"nats-server unavailable: {exc}")
    yield private.url
    private.stop()


def test_the_readme_subscriber_resumes_without_loss(nats_url: str, tmp_path: Path) -> None:
    follow = readme_example()["follow"]
    settings = Settings(data_dir=tmp_path)
    store = EventStore(open_recorder(settings))
    db = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
    stream = f"README_{uuid.uuid4().hex[:8].upper()}"
    relay = Relay(store, db, NatsBus(nats_url, stream), "readme", interval=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run_forever, args=(stop,), daemon=True)
    thread.start()

    def roles(count: int) -> list[int]:
        """Save roles and wait until the relay has them in the stream (which
        it also creates): the subscriber reads what is published."""
        made = [
            Role(name=f"r-{uuid.uuid4().hex[:6]}", domain_id=None, description="")
            for _ in range(count)
        ]
        ids = store.save(made, META)
        relay.poke()
        deadline = time.monotonic() + 30
        while relay.position < max(ids):
            assert time.monotonic() < deadline, "the relay did not publish in time"
            time.sleep(0.02)
        return ids

    def read(count: int | None, subject: str = "strata.events.identity.role.>") -> list[int]:
        got: list[dict[str, Any]] = []
        asyncio.run(
            follow(
                got.append,
                nats_url=nats_url,
                stream=stream,
                durable="readme-test",
                subject=subject,
                stop_after=count,
                idle_timeout=None if count else 2.0,
            )
        )
        return [int(event["id"]) for event in got]

    try:
        first = roles(5)
        assert read(5) == first
        second = roles(3)  # written while the subscriber is down
        assert read(3) == second
        assert read(None) == []  # nothing left over, nothing repeated
        got: list[dict[str, Any]] = []
        asyncio.run(
            follow(
                got.append,
                nats_url=nats_url,
                stream=stream,
                durable="projects-only",
                subject="strata.events.identity.project.>",
                idle_timeout=1.0,
            )
        )
        assert got == []
    finally:
        stop.set()
        thread.join(10)

        async def delete() -> None:
            nc = await nats.connect(nats_url)
            try:
                await nc.jetstream().delete_stream(stream)
            finally:
                await nc.close()

        asyncio.run(delete())
        db.close()
