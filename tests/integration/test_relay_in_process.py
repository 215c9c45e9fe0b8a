"""The relay on the in-process bus (no nats-server): that bus keeps nothing,
so while no one subscribes the relay moves past new events without
decoding, encoding or publishing them, and a subscriber receives every
event committed after it subscribed, in order.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.identity.roles import Role
from infra.database import open_database
from infra.eventstore import EventStore, open_recorder
from infra.nats_bus import InProcessBus, PublishedMessage
from infra.settings import Settings
from workers.relay import Relay

META = {"user_id": "u", "project_id": "p", "request_id": "r", "source": "test"}


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[EventStore, Relay, InProcessBus]]:
    settings = Settings(data_dir=tmp_path)
    store = EventStore(open_recorder(settings))
    db = open_database(settings.database_url, settings.sqlite_path, False)
    bus = InProcessBus()
    relay = Relay(store, db, bus, interval=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run_forever, args=(stop,), daemon=True)
    thread.start()
    yield store, relay, bus
    stop.set()
    thread.join(10)
    db.close()


def _roles(store: EventStore, count: int) -> list[int]:
    roles = [Role(f"role-{uuid.uuid4().hex[:8]}", None, "") for _ in range(count)]
    return store.save(roles, META)


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_with_no_subscriber_nothing_is_published_yet_the_position_moves(running: Any) -> None:
    store, relay, _ = running
    ids = _roles(store, 5)
    _until(lambda: relay.position == max(ids))  # set once recorded
    assert relay.recorded_position() == max(ids)
    assert relay.published == 0


def test_a_subscriber_gets_everything_after_it_subscribed(running: Any) -> None:
    store, relay, bus = running
    before = _roles(store, 3)
    _until(lambda: relay.position == max(before))
    received: list[PublishedMessage] = []
    bus.subscribe(">", received.append)
    after = _roles(store, 4)
    _until(lambda: len(received) >= len(after))
    time.sleep(0.2)  # nothing more, nothing from before
    assert [int(m.msg_id) for m in received] == after
    _until(lambda: relay.position == max(after))  # recorded after the handlers ran
    assert relay.recorded_position() == max(after)


def test_commits_during_a_pass_gathering_are_published_together(tmp_path: Path) -> None:
    """A pass per commit would cost a read and a position write each: after
    a pass the relay lets commits gather, and the next pass takes them all."""
    settings = Settings(data_dir=tmp_path)
    store = EventStore(open_recorder(settings))
    db = open_database(settings.database_url, settings.sqlite_path, False)
    bus = InProcessBus()
    relay = Relay(store, db, bus, interval=5.0, gather=2.0)
    received: list[PublishedMessage] = []
    bus.subscribe(">", received.append)
    passes: list[int] = []
    record = relay.record_position

    def counted(position: int) -> None:
        passes.append(position)
        record(position)

    relay.record_position = counted  # type: ignore[method-assign]
    stop = threading.Event()
    thread = threading.Thread(target=relay.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        _until(lambda: relay.is_leader)
        ids: list[int] = []
        for _ in range(10):  # as the cloud does: a poke after each commit
            ids += _roles(store, 1)
            relay.poke()
            time.sleep(0.05)
        _until(lambda: relay.position == max(ids))
        assert [int(m.msg_id) for m in received] == ids
        # The first commit's pass, then one for the nine that gathered
        # (a pass per commit, without gathering); one spare for a slow start.
        assert len(passes) <= 3, passes
    finally:
        stop.set()
        thread.join(10)
        db.close()
