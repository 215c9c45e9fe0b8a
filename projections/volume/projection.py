"""The block storage read model: volumes and their attachments, snapshots,
types, quota limits and storage hosts, as rows."""

from __future__ import annotations

from typing import Any

from domain.volume import states as s
from domain.volume.hosts import StorageHosts
from domain.volume.quotas import VolumeQuota
from domain.volume.snapshots import Snapshot
from domain.volume.types import VolumeType
from infra.database import Cursor
from projections.base import handles
from projections.volume.tables import TABLES
from projections.volume.volumes import VolumeRows

SNAPSHOTS, TYPES, QUOTAS, HOSTS = (
    "volume_snapshots",
    "volume_types",
    "volume_quotas",
    "volume_hosts",
)


class VolumeProjection(VolumeRows):
    name = "volume"
    tables = TABLES

    # -- snapshots ------------------------------------------------------------------
    @handles(Snapshot.Created)
    def _snapshot(self, cur: Cursor, e: Snapshot.Created) -> None:
        body = {
            "description": e.description,
            "metadata": e.metadata,
            "reason": None,
            "user_id": e.user_id,
        }
        row = {
            "id": str(e.originator_id),
            "project_id": e.project_id,
            "volume_id": e.volume_id,
            "name": e.name,
            "status": s.SNAP_CREATING,
            "size": e.size,
            "host": e.host,
            "created_at": e.timestamp,
            "updated_at": e.timestamp,
            "body": body,
        }
        self.upsert(cur, SNAPSHOTS, row)

    def _snapshot_patch(
        self, cur: Cursor, e: Any, columns: dict[str, Any], body: dict[str, Any]
    ) -> None:
        self.patch(
            cur, SNAPSHOTS, str(e.originator_id), {**columns, "updated_at": e.timestamp}, body
        )

    @handles(Snapshot.Updated)
    def _snapshot_updated(self, cur: Cursor, e: Snapshot.Updated) -> None:
        changes = dict(e.changes)
        columns = {k: changes.pop(k) for k in ("name",) if k in changes}
        self._snapshot_patch(cur, e, columns, changes)

    @handles(Snapshot.StatusChanged)
    def _snapshot_status(self, cur: Cursor, e: Snapshot.StatusChanged) -> None:
        self._snapshot_patch(cur, e, {"status": e.status}, {"reason": e.reason})

    @handles(Snapshot.Deleted)
    def _snapshot_deleted(self, cur: Cursor, e: Snapshot.Deleted) -> None:
        self.delete(cur, SNAPSHOTS, {"id": str(e.originator_id)})

    # -- types ----------------------------------------------------------------------
    @handles(VolumeType.Created)
    def _type(self, cur: Cursor, e: VolumeType.Created) -> None:
        row = {
            "id": str(e.originator_id),
            "name": e.name,
            "description": e.description,
            "is_public": e.is_public,
            "extra_specs": e.extra_specs,
            "created_at": e.timestamp,
        }
        self.upsert(cur, TYPES, row)

    @handles(VolumeType.Updated)
    def _type_updated(self, cur: Cursor, e: VolumeType.Updated) -> None:
        self.update(cur, TYPES, dict(e.changes), {"id": str(e.originator_id)})

    @handles(VolumeType.ExtraSpecsChanged)
    def _type_specs(self, cur: Cursor, e: VolumeType.ExtraSpecsChanged) -> None:
        self.update(cur, TYPES, {"extra_specs": e.extra_specs}, {"id": str(e.originator_id)})

    @handles(VolumeType.Deleted)
    def _type_deleted(self, cur: Cursor, e: VolumeType.Deleted) -> None:
        self.delete(cur, TYPES, {"id": str(e.originator_id)})

    # -- quotas and hosts -----------------------------------------------------------
    @handles(VolumeQuota.Created)
    def _quota(self, cur: Cursor, e: VolumeQuota.Created) -> None:
        row = {"project_id": e.project_id, "aggregate_id": str(e.originator_id), "limits": {}}
        self.upsert(cur, QUOTAS, row)

    @handles(VolumeQuota.LimitsSet)
    def _quota_set(self, cur: Cursor, e: VolumeQuota.LimitsSet) -> None:
        self.update(cur, QUOTAS, {"limits": e.limits}, {"aggregate_id": str(e.originator_id)})

    @handles(StorageHosts.HostRegistered)
    def _host(self, cur: Cursor, e: StorageHosts.HostRegistered) -> None:
        self.upsert(cur, HOSTS, {"hostname": e.hostname, "facts": e.facts})
