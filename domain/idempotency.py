"""The first outcome of a request sent with an idempotency key.

Saved in the same transaction as the events the request caused, so a retry
either finds the record (and returns its outcome, writing nothing) or finds
nothing because nothing was written.
"""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event

IDEMPOTENCY_NAMESPACE = uuid.UUID("0f8e9bc4-4d0c-4f1b-b1a4-33d1b2f6c2e7")


def idempotency_id(scope: str, key: str) -> uuid.UUID:
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{scope}\x1f{key}")


class IdempotencyRecord(Aggregate):
    class Created(Aggregate.Created):
        class_version = 1
        scope: str
        key: str
        command: str
        fingerprint: str
        outcome: dict[str, Any]

    @event(Created)
    def __init__(
        self,
        scope: str,
        key: str,
        command: str,
        fingerprint: str,
        outcome: dict[str, Any],
    ) -> None:
        self.scope = scope
        self.key = key
        self.command = command
        self.fingerprint = fingerprint
        self.outcome = outcome

    @classmethod
    def create_id(cls, scope: str, key: str, **_: Any) -> uuid.UUID:
        return idempotency_id(scope, key)
