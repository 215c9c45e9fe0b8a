"""What the network handlers share: loading with visibility, ids, MACs and VNIs."""

from __future__ import annotations

import secrets
import uuid
from typing import Any, TypeVar

from pydantic import BaseModel

from commands.bus import Command
from commands.context import Context
from commands.unit_of_work import UnitOfWork
from domain.claims import NameClaim, claim_id
from domain.network.base import NetworkResource
from domain.network.errors import InUse, Invalid, NeutronNotFound
from domain.network.networks import VNI_MAX, VNI_MIN

R = TypeVar("R", bound=NetworkResource)


def load(uow: UnitOfWork, cls: type[R], ident: uuid.UUID | str, kind: str, ctx: Context) -> R:
    """The resource if the caller may change it; another project's is "not found"."""
    resource = find(uow, cls, ident, kind)
    if not ctx.is_admin and getattr(resource, "project_id", None) != ctx.project_id:
        raise NeutronNotFound(kind, ident)
    return resource


def find(uow: UnitOfWork, cls: type[R], ident: uuid.UUID | str, kind: str) -> R:
    """The resource whoever owns it (for checks the caller cannot see)."""
    key = ident if isinstance(ident, uuid.UUID) else _uuid(ident, kind)
    resource = uow.get(cls, key)
    if resource is None:
        raise NeutronNotFound(kind, ident)
    return resource


def _uuid(text: str, kind: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError as error:
        raise NeutronNotFound(kind, text) from error


def owner_project(requested: str | None, ctx: Context) -> str:
    """Only an admin creates resources for another project."""
    if requested and requested != ctx.project_id:
        if not ctx.is_admin:
            raise Invalid(
                "Specifying 'project_id' or 'tenant_id' other than the authenticated "
                "project in request requires admin privileges.",
                "HTTPBadRequest",
            )
        return requested
    if not ctx.project_id:
        raise Invalid("A project-scoped token is needed to create network resources.")
    return ctx.project_id


def changes_of(command: BaseModel, *exclude: str) -> dict[str, Any]:
    """The attributes a PUT really sent (None where None means "clear" is kept)."""
    return {k: v for k, v in command.model_dump(exclude_unset=True).items() if k not in exclude}


def _claim_free(uow: UnitOfWork, kind: str, key: str, owner: uuid.UUID) -> bool:
    existing = uow.get_any(NameClaim, claim_id(kind, "", key))
    if existing is None:
        uow.add(NameClaim(kind=kind, scope="", key=key, owner_id=owner))
        return True
    if existing.owner_id is None:
        existing.take(owner, kind)
        uow.add(existing)
        return True
    return existing.owner_id == owner


def _claim_drawn(uow: UnitOfWork, kind: str, key: str, owner: uuid.UUID) -> bool:
    """Claim a key drawn at random; False when it is taken (draw another).

    A drawn key is almost surely unclaimed, so the first one of a command is
    claimed without a lookup (two reads of the store saved): if it was taken
    after all, the claim's first version collides with the existing one in
    the event store and the bus runs the handler again, which draws anew.
    Later keys of the same command (a bulk create) are looked up, or each
    would add its own chance of failing the whole bulk.
    """
    key_id = claim_id(kind, "", key)
    if uow.holds(key_id):
        return False  # drawn twice in one bulk
    if uow.held(NameClaim):
        return _claim_free(uow, kind, key, owner)
    uow.add(NameClaim(kind=kind, scope="", key=key, owner_id=owner))
    return True


def release_claim(uow: UnitOfWork, kind: str, key: str, owner: uuid.UUID) -> None:
    existing = uow.get_any(NameClaim, claim_id(kind, "", key))
    if existing is not None:
        existing.release(owner)
        uow.add(existing)


def allocate_vni(uow: UnitOfWork, network_id: uuid.UUID, requested: int | None) -> int:
    """A VXLAN VNI no other live network holds (a claim per VNI makes it unique).

    Unless one is requested, the search starts at a point derived from the
    network id, which is random: concurrent creations rarely try the same
    VNI, the first try needs no lookup (see `_claim_drawn`), and a retry
    (new id) starts elsewhere.
    """
    if requested is not None:
        if not _claim_free(uow, "vni", str(requested), network_id):
            raise InUse(f"Segmentation id {requested} is already in use.", "VxlanNetworkInUse")
        return requested
    span = VNI_MAX - VNI_MIN + 1
    start = network_id.int % span
    for step in range(64):
        vni = VNI_MIN + (start + step) % span
        if _claim_drawn(uow, "vni", str(vni), network_id):
            return vni
    raise Invalid("No free VXLAN segment was found.", "NoNetworkAvailable")


MAC_PREFIX = "fa:16:3e"


def check_mac(mac: str) -> str:
    parts = mac.lower().split(":")
    if len(parts) != 6 or not all(
        len(p) == 2 and all(c in "0123456789abcdef" for c in p) for p in parts
    ):
        raise Invalid(f"'{mac}' is not a valid MAC address.")
    if int(parts[0], 16) & 1:
        raise Invalid(f"'{mac}' is a multicast MAC address.")
    return ":".join(parts)


def claim_mac(uow: UnitOfWork, port_id: uuid.UUID, requested: str | None) -> str:
    """A MAC unique in the cloud: Neutron's OpenStack prefix and three random octets."""
    if requested:
        mac = check_mac(requested)
        if not _claim_free(uow, "mac", mac, port_id):
            raise Invalid(
                f"Unable to complete operation for port: MAC address {mac} is in use.",
                "MacAddressInUse",
            )
        return mac
    # A handler may draw random numbers: it runs before anything is saved,
    # and a retry simply draws again.
    while True:
        mac = MAC_PREFIX + "".join(f":{b:02x}" for b in secrets.token_bytes(3))
        if _claim_drawn(uow, "mac", mac, port_id):
            return mac


class StrictModel(BaseModel):
    """Nested command parts: frozen and closed, like commands."""

    model_config = Command.model_config
