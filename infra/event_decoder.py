"""Stored events to domain events, as the library's mapper does, at replay speed.

Replaying the log decodes every event once per read model; the library's
mapper spends most of that time in generic machinery (a Python call per JSON
object through a try/except chain, `uuid.UUID`'s parsing, a topic lookup and
an id-type lookup per event). This decoder gives the same objects for the
format Strata writes (JSON, no cipher, no compressor) with the per-topic facts
looked up once and the common transcodings taken directly.

Exactly as the mapper: a `{"_type_": name, "_data_": data}` object becomes the
registered transcoding's value (unknown names raise), `class_version` drives
the `upcast_vN_vN+1` chain, and the originator id is converted as the event
class declares. Events that may carry sealed personal data go through the
library's mapper (and so through the vault), untouched by this shortcut.

JSON is parsed by orjson, several times faster than the standard library,
and the transcoded objects are then replaced bottom-up, as the standard
decoder's object hook would. Where the two parsers could differ, the
standard library parses: what orjson refuses (NaN, lone surrogates) and any
state holding a float, since orjson also reads integers past 64 bits as
floats. Events with floats are rare; ids, times, text and counts are not.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any, cast
from uuid import UUID, SafeUUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    TranscodingNotRegisteredError,
    UUIDAsHex,
    find_id_convertor,
    str_to_uuid_convertor,
)
from eventsourcing.utils import resolve_topic

from infra.personal_data import RULES

IdConvertor = Callable[[UUID | str], UUID | str]

_new = object.__new__
_set = object.__setattr__
_UNKNOWN = SafeUUID.unknown
_UUID_RANGE = 1 << 128
_loads = orjson.loads


def uuid_from_hex(text: str) -> UUID:
    """`UUID(text)` for 32 hex digits without its general-purpose parsing
    (braces, dashes, `urn:uuid:`); anything else takes the normal route."""
    if len(text) == 32 and text[0] != "-":  # int() takes "-0…0", UUID() drops dashes
        try:
            value = int(text, 16)
        except ValueError:
            return UUID(text)
        if 0 <= value < _UUID_RANGE:
            result: UUID = _new(UUID)
            _set(result, "int", value)
            _set(result, "is_safe", _UNKNOWN)
            return result
    return UUID(text)


def uuid_from_text(text: str) -> UUID:
    """`UUID(text)` for ids stored as text: 32 hex digits (SQLite's recorder
    stores them so) or the dashed spelling."""
    if len(text) == 32:
        return uuid_from_hex(text)
    if len(text) == 36 and text[8] == text[13] == text[18] == text[23] == "-":
        return uuid_from_hex(text.replace("-", ""))
    return UUID(text)


def _text_to_uuid(originator_id: UUID | str) -> UUID | str:
    if type(originator_id) is str and len(originator_id) == 32:  # SQLite's spelling: one call
        return uuid_from_hex(originator_id)
    return uuid_from_text(originator_id) if isinstance(originator_id, str) else originator_id


class _Float(Exception):
    """A parsed state holds a float: let the standard library parse it."""


class EventDecoder:
    """Decodes stored events; one per mapper, safe to share between threads."""

    def __init__(
        self,
        mapper: Mapper[Any],
        text_ids_are_uuids: bool = False,
        sealed_topics: frozenset[str] | None = None,
    ) -> None:
        """`text_ids_are_uuids`: the recorder stores UUID ids as text and
        reads them back as UUIDs (SQLite's does), so ids read as text
        become UUIDs whatever the event class declares."""
        if not isinstance(mapper.transcoder, JSONTranscoder):
            raise TypeError("the fast decoder reads JSON-transcoded events only")
        self.mapper = mapper
        self._text_ids_are_uuids = text_ids_are_uuids
        self._plain = mapper.cipher is None and mapper.compressor is None
        self._sealed = frozenset(RULES) if sealed_topics is None else sealed_topics
        self._transcodings = dict(mapper.transcoder.names)
        # The stock transcodings of ids and times, taken without a method call.
        self._uuid_hex = type(self._transcodings.get("uuid_hex")) is UUIDAsHex
        self._datetime_iso = type(self._transcodings.get("datetime_iso")) is DatetimeAsISO
        self._fast = self._uuid_hex and self._datetime_iso
        self._json = json.JSONDecoder(object_hook=self._transcoded)
        self._classes: dict[tuple[str, type[Any]], tuple[type[Any], IdConvertor]] = {}

    def decode(self, stored: StoredEvent) -> DomainEventProtocol[Any]:
        return self.decode_parts(
            stored.topic, stored.originator_id, stored.originator_version, stored.state
        )

    def decode_parts(
        self, topic: str, originator_id: UUID | str, version: int, state: bytes
    ) -> DomainEventProtocol[Any]:
        # A class is learnt only for plain events of unsealed topics, so a
        # known class needs neither check: replay runs this once per event.
        facts = self._classes.get((topic, type(originator_id)))
        if facts is None:
            if not self._plain or topic in self._sealed:
                if self._text_ids_are_uuids and isinstance(originator_id, str):
                    originator_id = uuid_from_text(originator_id)
                return self.mapper.to_domain_event(
                    StoredEvent(originator_id, version, topic, state)
                )
            facts = self._learn((topic, type(originator_id)))
        cls, convert = facts
        try:
            try:
                # An object, as every event's state is, parsed without
                # `_parse`'s call; anything else takes it.
                parsed = _loads(state)
                event_state: dict[str, Any] = (
                    self._object(parsed) if type(parsed) is dict else self._parse(state)
                )
            except (orjson.JSONDecodeError, _Float):
                event_state = self._json.decode(state.decode("utf8"))
        except Exception as error:
            msg = (
                f"Failed to deserialise state of stored event with topic '{topic}', "
                f"originator_id '{originator_id}' and originator_version {version}: {error}"
            )
            raise MapperDeserialisationError(msg) from error
        event_state["originator_id"] = convert(originator_id)
        event_state["originator_version"] = version
        from_version = event_state.pop("class_version", 1)
        class_version = getattr(cls, "class_version", 1)  # read each time, as the mapper does
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(event_state)
            from_version += 1
        domain_event: DomainEventProtocol[Any] = _new(cls)
        _set(domain_event, "__dict__", event_state)
        return domain_event

    def _parse(self, state: bytes) -> Any:
        try:
            parsed = orjson.loads(state)
            if type(parsed) is dict:
                return self._object(parsed)
            if type(parsed) is list:
                return self._list(parsed)
            if type(parsed) is not float:
                return parsed
        except (orjson.JSONDecodeError, _Float):
            pass
        return self._json.decode(state.decode("utf8"))

    def _list(self, items: list[Any]) -> list[Any]:
        for i, item in enumerate(items):
            kind = type(item)
            if kind is dict or kind is list:
                if item:
                    items[i] = self._object(item) if kind is dict else self._list(item)
            elif kind is float:
                raise _Float
        return items

    def _object(self, d: dict[str, Any]) -> Any:
        """One JSON object, its members first: the object hook's bottom-up order.

        Members that are a stock id or time are decoded in place, without a
        call per member: replay runs this for every event."""
        fast = self._fast
        for name, value in d.items():
            kind = type(value)
            if kind is dict:
                if fast and len(value) == 2:
                    data = value.get("_data_")
                    if type(data) is str:
                        tag = value.get("_type_")
                        if tag == "uuid_hex":
                            d[name] = uuid_from_hex(data)
                            continue
                        if tag == "datetime_iso":
                            d[name] = datetime.fromisoformat(data)
                            continue
                if value:
                    d[name] = self._object(value)
            elif kind is list:
                if value:
                    d[name] = self._list(value)
            elif kind is float:
                raise _Float
        # Most objects are not transcoded values: no call to find that out.
        if len(d) != 2 or "_type_" not in d:
            return d
        return self._transcoded(d)

    def _transcoded(self, d: dict[str, Any]) -> Any:
        """A JSON object whose members are decoded (the standard decoder's hook)."""
        if len(d) != 2 or "_type_" not in d or "_data_" not in d:
            return d
        name, data = d["_type_"], d["_data_"]
        if type(data) is str:
            if name == "uuid_hex" and self._uuid_hex:
                return uuid_from_hex(data)
            if name == "datetime_iso" and self._datetime_iso:
                return datetime.fromisoformat(data)
        transcoding = self._transcodings.get(name)
        if transcoding is None:
            msg = (
                f"Data serialized with name '{name}' is not deserializable. "
                "Please register a custom transcoding for this type."
            )
            raise TranscodingNotRegisteredError(msg)
        return transcoding.decode(data)

    def _learn(self, key: tuple[str, type[Any]]) -> tuple[type[Any], IdConvertor]:
        cls = resolve_topic(key[0])
        convert = find_id_convertor(cls, cast(Hashable, key[1]))
        if key[1] is str and (self._text_ids_are_uuids or convert is str_to_uuid_convertor):
            convert = _text_to_uuid
        facts = (cls, convert)
        self._classes[key] = facts
        return facts
