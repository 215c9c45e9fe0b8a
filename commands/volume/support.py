"""Lookups the block storage handlers share, with Cinder's not-found messages.

Everything is loaded in the command's own transaction (one log for the whole
cloud): a volume is checked against exactly the snapshot, type and image that
exist when it is saved, never against a read model that may lag.
"""

from __future__ import annotations

import uuid

from commands.compute.support import claimed
from commands.context import Context
from commands.unit_of_work import UnitOfWork
from domain.errors import NotFound
from domain.volume.hosts import REGISTRY_ID, StorageHosts
from domain.volume.snapshots import Snapshot
from domain.volume.types import DEFAULT_TYPE_ID, DEFAULT_TYPE_NAME, VolumeType
from domain.volume.volumes import Volume

TYPE_NAME_CLAIM = "volume-type-name"


class CinderNotFound(NotFound):
    def __init__(self, kind: str, ident: object, message: str) -> None:
        super().__init__(kind, ident)
        self.message = message
        self.args = (message,)


def volume_not_found(volume_id: object) -> CinderNotFound:
    return CinderNotFound("volume", volume_id, f"Volume {volume_id} could not be found.")


def snapshot_not_found(snapshot_id: object) -> CinderNotFound:
    return CinderNotFound("snapshot", snapshot_id, f"Snapshot {snapshot_id} could not be found.")


def type_not_found(ref: object) -> CinderNotFound:
    return CinderNotFound("volume type", ref, f"Volume type with name {ref} could not be found.")


def _visible(project_id: str, ctx: Context) -> bool:
    return ctx.is_admin or project_id == ctx.project_id


def load_volume(uow: UnitOfWork, ctx: Context, volume_id: uuid.UUID) -> Volume:
    volume = uow.get(Volume, volume_id)
    if volume is None or not _visible(volume.project_id, ctx):
        raise volume_not_found(volume_id)
    return volume


def load_snapshot(uow: UnitOfWork, ctx: Context, snapshot_id: uuid.UUID) -> Snapshot:
    snapshot = uow.get(Snapshot, snapshot_id)
    if snapshot is None or not _visible(snapshot.project_id, ctx):
        raise snapshot_not_found(snapshot_id)
    return snapshot


def find_type(uow: UnitOfWork, ref: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """A type by id or name as ({id, name}, extra specs); none given means the default."""
    if ref in (None, "", DEFAULT_TYPE_NAME, str(DEFAULT_TYPE_ID)):
        return {"id": str(DEFAULT_TYPE_ID), "name": DEFAULT_TYPE_NAME}, {}
    assert ref is not None
    found: VolumeType | None = None
    try:
        found = uow.get(VolumeType, uuid.UUID(ref))
    except ValueError:
        found = None
    if found is None:
        claim = claimed(uow, TYPE_NAME_CLAIM, "", ref)
        found = uow.get(VolumeType, claim.owner_id) if claim and claim.owner_id else None
    if found is None:
        raise type_not_found(ref)
    return found.snapshot(), dict(found.extra_specs)


def storage_hosts(uow: UnitOfWork) -> StorageHosts:
    registry = uow.get(StorageHosts, REGISTRY_ID)
    if registry is None:
        registry = StorageHosts()
        uow.add(registry)
    return registry
