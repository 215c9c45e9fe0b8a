"""Claiming unique names inside a unit of work (see domain/claims.py)."""

from __future__ import annotations

from uuid import UUID

from commands.unit_of_work import UnitOfWork
from domain.claims import NameClaim, claim_id


def claim(uow: UnitOfWork, kind: str, scope: str, name: str, owner: UUID, what: str) -> None:
    existing = uow.get_any(NameClaim, claim_id(kind, scope, name))
    if existing is None:
        uow.add(NameClaim(kind=kind, scope=scope, key=name, owner_id=owner))
    else:
        existing.take(owner, what)
        uow.add(existing)


def release(uow: UnitOfWork, kind: str, scope: str, name: str, owner: UUID) -> None:
    existing = uow.get_any(NameClaim, claim_id(kind, scope, name))
    if existing is not None:
        existing.release(owner)
        uow.add(existing)


def rename(
    uow: UnitOfWork, kind: str, scope: str, old: str, new: str, owner: UUID, what: str
) -> None:
    if old != new:
        claim(uow, kind, scope, new, owner, what)
        release(uow, kind, scope, old, owner)
