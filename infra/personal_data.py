"""Crypto-shredding: personal data in the log, readable only while its key lives.

Events are immutable, yet a person may ask to be forgotten. So the personal
fields of identity events (a user's name, email, description and extra
attributes, and the user-name claim) are stored encrypted with a key of their
own per person, kept outside the log in `personal_data_keys`. Deleting the
user destroys the key: from then on every reader of the log — replay, audit,
time travel, the relay — sees those fields as removed, while every event still
decodes and every projection still rebuilds.

The rule for which fields are personal lives here, in infrastructure, keyed
by event topic, so the domain stays unaware of how it is stored.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from cryptography.fernet import Fernet, InvalidToken
from psycopg import sql

from infra.sqlite_lock import SQLITE_WRITE_LOCK

SEALED = "_sealed_"

# What a field reads as once its key is gone: still the right type, so that
# events decode and aggregates replay (a name must be a non-empty string).
REMOVED: dict[str, Any] = {
    "name": "[removed]",
    "key": "[removed]",
    "email": None,
    "description": "",
    "extra": {},
}

USER_FIELDS = ("name", "email", "description", "extra")


@dataclass(frozen=True)
class Rule:
    fields: tuple[str, ...]
    nested: str | None = None  # the dict the fields sit in (`changes` of an update)
    subject_field: str | None = None  # whose data it is; None: the event's aggregate


RULES: dict[str, Rule] = {
    "domain.identity.users:User.Created": Rule(USER_FIELDS),
    "domain.identity.users:User.Updated": Rule(USER_FIELDS, nested="changes"),
    "domain.claims:NameClaim.Created": Rule(("key",), subject_field="owner_id"),
}

SHRED_TOPICS = frozenset({"domain.identity.users:User.Deleted"})


def _applies(topic: str, state: Mapping[str, Any]) -> Rule | None:
    rule = RULES.get(topic)
    if rule is not None and topic.startswith("domain.claims:") and state.get("kind") != "user":
        return None
    return rule


class PersonalDataVault:
    """Per-subject Fernet keys in the event database, and sealing with them."""

    def __init__(self, datastore: Any, dialect: str) -> None:
        self.datastore = datastore
        self.dialect = dialect
        self._keys: dict[str, Fernet] = {}
        self._lock = threading.Lock()
        with self._transaction() as cursor:
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS personal_data_keys "
                "(subject TEXT PRIMARY KEY, key TEXT NOT NULL)"
            )

    # Sealing and revealing whole event states.

    def seal(self, topic: str, aggregate_id: UUID, state: dict[str, Any]) -> dict[str, Any]:
        rule = _applies(topic, state)
        if rule is None:
            return state
        subject = self._subject(rule, aggregate_id, state)
        target = state.get(rule.nested) if rule.nested else state
        if not isinstance(target, dict):
            return state
        fernet = self._key(subject, create=True)
        assert fernet is not None
        sealed = dict(target)
        for field in rule.fields:
            if field in sealed:
                plain = json.dumps(sealed[field], default=str).encode()
                sealed[field] = {SEALED: fernet.encrypt(plain).decode(), "subject": subject}
        if rule.nested:
            return {**state, rule.nested: sealed}
        return sealed

    def reveal(self, state: dict[str, Any]) -> dict[str, Any]:
        """Open every sealed field whose key still exists; mark the rest removed."""
        return {k: self._reveal_value(k, v) for k, v in state.items()}

    def _reveal_value(self, name: str, value: Any) -> Any:
        if isinstance(value, dict):
            if SEALED in value:
                fernet = self._key(str(value.get("subject", "")), create=False)
                if fernet is None:
                    return REMOVED.get(name)
                try:
                    return json.loads(fernet.decrypt(value[SEALED].encode()))
                except InvalidToken:
                    return REMOVED.get(name)
            return {k: self._reveal_value(k, v) for k, v in value.items()}
        return value

    @staticmethod
    def is_sealed(state: Mapping[str, Any]) -> bool:
        return any(
            isinstance(v, dict) and (SEALED in v or PersonalDataVault.is_sealed(v))
            for v in state.values()
        )

    # Keys.

    def shred(self, subject: UUID | str) -> None:
        """Destroy a subject's key: its personal data becomes unreadable for good."""
        name = _subject_text(subject)
        with self._lock:
            self._keys.pop(name, None)
        with self._transaction() as cursor:
            cursor.execute(self._sql("DELETE FROM personal_data_keys WHERE subject = %s"), (name,))

    def has_key(self, subject: UUID | str) -> bool:
        return self._key(_subject_text(subject), create=False) is not None

    def _subject(self, rule: Rule, aggregate_id: UUID, state: Mapping[str, Any]) -> str:
        if rule.subject_field:
            return _subject_text(state[rule.subject_field])
        return _subject_text(aggregate_id)

    def _key(self, subject: str, create: bool) -> Fernet | None:
        """The subject's key. Sealing may use a cached key (a deleted user
        writes no more events); revealing always asks the database, so a key
        shredded by another process counts here at once."""
        if create:
            with self._lock:
                cached = self._keys.get(subject)
            if cached is not None:
                return cached
        select = self._sql("SELECT key FROM personal_data_keys WHERE subject = %s")
        with self._transaction(write=create) as cursor:
            cursor.execute(select, (subject,))
            row = cursor.fetchone()
            if row is None and create:
                cursor.execute(
                    self._sql(
                        "INSERT INTO personal_data_keys (subject, key) VALUES (%s, %s) "
                        "ON CONFLICT (subject) DO NOTHING"
                    ),
                    (subject, Fernet.generate_key().decode()),
                )
                cursor.execute(select, (subject,))
                row = cursor.fetchone()
        if row is None:
            return None
        key = row["key"] if isinstance(row, Mapping) else row[0]
        fernet = Fernet(key.encode())
        if create:
            with self._lock:
                self._keys[subject] = fernet
        return fernet

    def _sql(self, text: str) -> Any:
        if self.dialect == "sqlite":
            return text.replace("%s", "?")
        return sql.SQL(text)  # type: ignore[arg-type]

    @contextmanager
    def _transaction(self, write: bool = True) -> Iterator[Any]:
        if self.dialect == "sqlite" and write:
            with (
                SQLITE_WRITE_LOCK.held(self.datastore.pool.db_name),
                self.datastore.transaction(commit=True) as cursor,
            ):
                yield cursor
        else:
            with self.datastore.transaction(commit=write) as cursor:
                yield cursor


def _subject_text(value: UUID | str) -> str:
    return value.hex if isinstance(value, UUID) else str(value).replace("-", "")
