"""Lookups the compute handlers share: flavors and key pairs by their names.

Both are found through their name claims, inside the command's transaction,
so a server is checked against exactly the flavor and key that exist when it
is saved — never against a read model that may lag.
"""

from __future__ import annotations

from uuid import UUID

from commands.unit_of_work import UnitOfWork
from domain.claims import NameClaim, claim_id
from domain.compute.flavors import Flavor
from domain.compute.keypairs import KeyPair
from domain.errors import NotFound

FLAVOR_ID_CLAIM = "flavor-id"
FLAVOR_NAME_CLAIM = "flavor-name"
KEYPAIR_CLAIM = "keypair"


class FlavorNotFound(NotFound):
    def __init__(self, flavorid: str) -> None:
        super().__init__("flavor", flavorid)
        self.message = f"Flavor {flavorid} could not be found."
        self.args = (self.message,)


class KeypairNotFound(NotFound):
    def __init__(self, user_id: str, name: str) -> None:
        super().__init__("keypair", name)
        self.message = f"Keypair {name} not found for user {user_id}"
        self.args = (self.message,)


class ExtraSpecNotFound(NotFound):
    def __init__(self, flavorid: str, key: str) -> None:
        super().__init__("extra spec", key)
        self.message = f"Flavor {flavorid} has no extra specs with key {key}."
        self.args = (self.message,)


def claimed(uow: UnitOfWork, kind: str, scope: str, key: str) -> NameClaim | None:
    found = uow.get_any(NameClaim, claim_id(kind, scope, key))
    return found if found is not None and found.owner_id is not None else None


def find_flavor(uow: UnitOfWork, flavorid: str) -> Flavor:
    claim = claimed(uow, FLAVOR_ID_CLAIM, "", flavorid)
    flavor = uow.get(Flavor, claim.owner_id) if claim and claim.owner_id else None
    if flavor is None:
        raise FlavorNotFound(flavorid)
    return flavor


def find_keypair(uow: UnitOfWork, user_id: str, name: str) -> KeyPair:
    claim = claimed(uow, KEYPAIR_CLAIM, user_id, name)
    keypair = uow.get(KeyPair, claim.owner_id) if claim and claim.owner_id else None
    if keypair is None:
        raise KeypairNotFound(user_id, name)
    return keypair


def take_name(uow: UnitOfWork, kind: str, scope: str, key: str, owner: UUID, what: str) -> None:
    """Claim a unique name for `owner` (a released claim is taken again)."""
    existing = uow.get_any(NameClaim, claim_id(kind, scope, key))
    if existing is None:
        uow.add(NameClaim(kind=kind, scope=scope, key=key, owner_id=owner))
        return
    existing.take(owner, what)
    uow.add(existing)


def release_name(uow: UnitOfWork, kind: str, scope: str, key: str, owner: UUID) -> None:
    existing = uow.get_any(NameClaim, claim_id(kind, scope, key))
    if existing is not None:
        existing.release(owner)
        uow.add(existing)
