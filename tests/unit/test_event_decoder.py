"""The replay decoder gives exactly what the library's mapper gives, for every
stored state, including the ones its faster parser refuses."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
)

from domain.identity.projects import Project
from infra.event_decoder import EventDecoder, uuid_from_hex, uuid_from_text
from infra.eventstore import make_transcoder

CREATED = "domain.identity.projects:Project.Created"
ID = uuid.UUID("6f1c3b0e-6a43-4b35-9d5b-0e8f1f0c2a11")


class Sample(Aggregate):
    """An aggregate whose event carries every kind of value the log holds."""

    class Happened(Aggregate.Event):
        payload: Any


@pytest.fixture
def mapper() -> Mapper[uuid.UUID]:
    return Mapper(transcoder=make_transcoder())


def _same(decoded: object, expected: object) -> None:
    assert type(decoded) is type(expected)
    assert vars(decoded) == vars(expected)
    for name, value in vars(expected).items():  # equal *and* of the same type
        assert type(vars(decoded)[name]) is type(value), name


def _stored(state: bytes, topic: str = CREATED, originator_id: Any = ID) -> StoredEvent:
    return StoredEvent(originator_id=originator_id, originator_version=3, topic=topic, state=state)


def _sample_states(mapper: Mapper[uuid.UUID]) -> Iterator[StoredEvent]:
    """States written by the real encoder: nested ids and times in lists and
    objects, decimals, an object that merely looks like a transcoding."""
    when = datetime(2026, 11, 21, 5, 8, 13, 267989, tzinfo=UTC)
    payloads: list[Any] = [
        None,
        {},
        [],
        {"ids": [uuid.uuid4(), uuid.uuid4()], "at": when, "n": 2**70, "f": 0.1},
        [[{"deep": [uuid.uuid4(), {"at": when}]}], Decimal("1.10")],
        {"_type_": "only one of the two keys"},
        {"x": {"_type_": "a", "_data_": "b", "extra": 1}},
        '\u2603 snow, quotes " and \\ backslashes\n',
        float("nan"),
    ]
    for payload in payloads:
        fields: dict[str, Any] = {"timestamp": when, "payload": payload}
        event = Sample.Happened(originator_id=ID, originator_version=2, **fields)
        yield mapper.to_stored_event(event)


def test_states_written_by_the_encoder_decode_the_same(mapper: Mapper[uuid.UUID]) -> None:
    decoder = EventDecoder(mapper)
    for stored in _sample_states(mapper):
        expected = mapper.to_domain_event(stored)
        decoded = decoder.decode(stored)
        if stored.state.find(b"NaN") >= 0:  # NaN != NaN: compare its spelling
            assert repr(vars(decoded)) == repr(vars(expected))
        else:
            _same(decoded, expected)


@pytest.mark.parametrize(
    "state",
    [
        b'{"payload":NaN}',  # accepted by the standard library, not by orjson
        b'{"payload":123456789012345678901234567890}',  # past 64 bits
        b'{"payload":"\\ud800"}',  # a lone surrogate
        b'{"payload":1E400}',
        b'{"payload":[1.5, -0.0, 1e-7]}',
        b'{"payload":1,"payload":2}',  # the last of a repeated name
    ],
)
def test_states_the_fast_parser_refuses_decode_the_same(
    mapper: Mapper[uuid.UUID], state: bytes
) -> None:
    stored = _stored(state, topic="tests.unit.test_event_decoder:Sample.Happened")
    decoded = EventDecoder(mapper).decode(stored)
    assert repr(vars(decoded)) == repr(vars(mapper.to_domain_event(stored)))


@pytest.mark.parametrize(
    "state",
    [
        b"not json",
        b'{"payload":{"_type_":"no_such_type","_data_":"x"}}',
        b"\xff\xfe",
    ],
)
def test_bad_states_fail_as_the_mapper_fails(mapper: Mapper[uuid.UUID], state: bytes) -> None:
    stored = _stored(state, topic="tests.unit.test_event_decoder:Sample.Happened")
    with pytest.raises(MapperDeserialisationError):
        mapper.to_domain_event(stored)
    with pytest.raises(MapperDeserialisationError):
        EventDecoder(mapper).decode(stored)


def test_old_versions_are_upcast(
    mapper: Mapper[uuid.UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["tags"] = state.pop("labels").split(",")

    monkeypatch.setattr(Project.Created, "class_version", 2)
    monkeypatch.setattr(Project.Created, "upcast_v1_v2", staticmethod(upcast_v1_v2), raising=False)
    old = _stored(
        b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-21T05:08:13.267989+00:00"},'
        b'"originator_topic":"domain.identity.projects:Project",'
        b'"domain_id":{"_type_":"uuid_hex","_data_":"472f541dadbc46c8b7d6ce0e6dad745a"},'
        b'"name":"p1","description":"","enabled":true,"parent_id":null,"labels":"a,b",'
        b'"extra":{}}'
    )
    decoded = EventDecoder(mapper).decode(old)
    _same(decoded, mapper.to_domain_event(old))
    assert vars(decoded)["tags"] == ["a", "b"]


def test_ids_stored_as_text_become_uuids(mapper: Mapper[uuid.UUID]) -> None:
    """SQLite's recorder keeps ids as text and reads them back as UUIDs."""
    stored = next(_sample_states(mapper))
    decoder = EventDecoder(mapper, text_ids_are_uuids=True)
    decoded = decoder.decode_parts(stored.topic, str(ID), 2, stored.state)
    _same(decoded, mapper.to_domain_event(stored))


@pytest.mark.parametrize(
    "text",
    [
        ID.hex,
        ID.hex.upper(),
        str(ID),
        "{" + str(ID) + "}",
        "urn:uuid:" + str(ID),
        "0" * 32,
        "f" * 32,
        "+" + "0" * 31,
        "-" + "0" * 31,
        "0" * 31 + "g",
        "1_" + "0" * 30,
        " " + "0" * 31,
        "",
        "0" * 33,
        "0" * 8 + "-" + "0" * 27,
    ],
)
def test_uuids_parse_as_uuid_parses_them(text: str) -> None:
    for fast in (uuid_from_hex, uuid_from_text):
        try:
            expected = uuid.UUID(text)
        except ValueError:
            with pytest.raises(ValueError):
                fast(text)
            continue
        parsed = fast(text)
        assert parsed == expected
        assert parsed.int == expected.int and parsed.is_safe == expected.is_safe
        assert str(parsed) == str(expected) and hash(parsed) == hash(expected)
