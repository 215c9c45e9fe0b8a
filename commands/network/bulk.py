"""Neutron's bulk create: many resources of one collection, all or none.

Every item runs through its own handler, on one unit of work, so the items
see each other (two ports of one bulk never get the same address or MAC)
and the bus saves them in one transaction: one failing item fails the whole
request and nothing is written.
"""

from __future__ import annotations

from typing import Any

from pydantic import SerializeAsAny, field_validator

from commands.bus import HANDLERS, Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.unit_of_work import UnitOfWork


class CreateMany(Command):
    items: list[SerializeAsAny[Command]]

    @field_validator("items")
    @classmethod
    def _flat(cls, items: list[Command]) -> list[Command]:
        if any(isinstance(item, CreateMany) for item in items):
            raise ValueError("bulk requests do not nest")
        return items


@handler(CreateMany)
def create_many(cmd: CreateMany, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    results: list[Any] = []
    for item in cmd.items:
        results.append(HANDLERS[type(item)](item, uow, ctx, deps))
    return {"ids": [r["id"] for r in results]}
