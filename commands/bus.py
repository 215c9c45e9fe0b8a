"""Runs a command: handler, one atomic save, retries, idempotency, read-your-writes.

A handler is a plain function `(command, uow, ctx, deps) -> outcome`. It loads
what it needs through the unit of work and calls domain methods; the bus saves
every aggregate it changed in one transaction. When another writer saved one
of those aggregates first the save fails as a whole and the handler runs again
on fresh state — so a handler must not have side effects outside the uow.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from eventsourcing.persistence import RecordConflictError
from pydantic import BaseModel, ConfigDict

from commands.context import Context
from commands.ports import AggregateStore, PasswordHasher
from commands.unit_of_work import UnitOfWork
from domain.errors import Conflict
from domain.idempotency import IdempotencyRecord, idempotency_id

log = logging.getLogger(__name__)

Outcome = dict[str, Any]


class Command(BaseModel):
    """One user intent; immutable, validated, no behaviour."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    # How many lost version races before giving up (None: the bus's default).
    # Commands that by design meet many others on one aggregate — boots
    # claiming the same host — raise it rather than fail their callers.
    max_attempts: ClassVar[int | None] = None


C = TypeVar("C", bound=Command)


@dataclass
class Dependencies:
    """Adapters handlers may use besides the aggregates."""

    passwords: PasswordHasher
    extras: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Any, UnitOfWork, Context, Dependencies], Outcome]

HANDLERS: dict[type[Command], Handler] = {}


def handler(
    command_class: type[C],
) -> Callable[
    [Callable[[C, UnitOfWork, Context, Dependencies], Outcome]],
    Callable[[C, UnitOfWork, Context, Dependencies], Outcome],
]:
    """Register the one handler of a command class."""

    def register(
        func: Callable[[C, UnitOfWork, Context, Dependencies], Outcome],
    ) -> Callable[[C, UnitOfWork, Context, Dependencies], Outcome]:
        if command_class in HANDLERS:
            raise RuntimeError(f"{command_class.__name__} already has a handler")
        HANDLERS[command_class] = func
        return func

    return register


@dataclass
class Result:
    outcome: Outcome
    notification_ids: list[int]
    replayed: bool = False


class CommandBus:
    def __init__(
        self,
        store: AggregateStore,
        deps: Dependencies,
        after_commit: Callable[[int], None] | None = None,
        max_attempts: int = 12,
    ) -> None:
        self.store = store
        self.deps = deps
        self.after_commit = after_commit
        self.max_attempts = max_attempts

    def dispatch(self, command: Command, ctx: Context) -> Result:
        func = HANDLERS.get(type(command))
        if func is None:
            raise LookupError(f"No handler for {type(command).__name__}")
        # Only a request with an idempotency key is compared with an earlier one.
        fingerprint = _fingerprint(command) if ctx.idempotency_key else ""
        if ctx.idempotency_key:
            earlier = self._earlier_outcome(command, ctx, fingerprint)
            if earlier is not None:
                return earlier
        attempts = type(command).max_attempts or self.max_attempts
        for attempt in range(1, attempts + 1):
            uow = UnitOfWork(self.store)
            try:
                outcome = func(command, uow, ctx, self.deps)
            except Exception:
                if attempt < attempts and self._read_moved(uow):
                    continue  # the refusal may rest on what is no longer so
                raise
            aggregates = uow.changed()
            if not aggregates and attempt < attempts and self._read_moved(uow):
                continue  # nothing to save checks the reads: asked here
            if ctx.idempotency_key:
                aggregates.append(
                    IdempotencyRecord(
                        scope=ctx.user_id,
                        key=ctx.idempotency_key,
                        command=type(command).__name__,
                        fingerprint=fingerprint,
                        outcome=_remembered(outcome),
                    )
                )
            try:
                ids = self.store.save(aggregates, ctx.meta(), uow.reads())
            except RecordConflictError:
                if ctx.idempotency_key:
                    earlier = self._earlier_outcome(command, ctx, fingerprint)
                    if earlier is not None:
                        return earlier
                log.debug(
                    "version conflict on %s, attempt %d",
                    type(command).__name__,
                    attempt,
                )
                _back_off(attempt)
                continue
            if ids and self.after_commit is not None:
                self.after_commit(max(ids))
            return Result(outcome, ids)
        raise Conflict(
            f"{type(command).__name__} kept colliding with concurrent changes; try again."
        )

    def _read_moved(self, uow: UnitOfWork) -> bool:
        """Whether something the command read has moved on since: loads may
        be served from kept copies, which only a save checks."""
        reads = uow.reads()
        return bool(reads) and bool(self.store.moved(reads))

    def _earlier_outcome(self, command: Command, ctx: Context, fingerprint: str) -> Result | None:
        assert ctx.idempotency_key is not None
        record = self.store.get(IdempotencyRecord, idempotency_id(ctx.user_id, ctx.idempotency_key))
        if record is None:
            return None
        if record.command != type(command).__name__ or record.fingerprint != fingerprint:
            raise Conflict("This idempotency key was already used for a different request.")
        return Result(record.outcome, [], replayed=True)


def _back_off(attempt: int) -> None:
    """Sleep a random while that grows with each lost race.

    Writers that collided on one aggregate (the IP allocations of a small
    subnet, say) would otherwise retry in lockstep and collide again.
    """
    time.sleep(random.uniform(0, min(0.2, 0.002 * 2**attempt)))


def _remembered(outcome: Outcome) -> Outcome:
    """What an idempotency record may keep: never a secret shown only once."""
    return {k: v for k, v in outcome.items() if not k.startswith("secret")}


def _fingerprint(command: Command) -> str:
    # model_dump + json rather than model_dump_json: the latter warns on
    # commands made with model_copy(update=...), whose fields skip validation.
    body = type(command).__name__ + json.dumps(
        command.model_dump(mode="json"), sort_keys=True, default=str
    )
    return hashlib.sha256(body.encode()).hexdigest()
