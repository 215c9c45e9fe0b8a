"""Flavors, key pairs, hosts and quota limits as rows."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from domain.compute.flavors import Flavor
from domain.compute.hosts import Host, HostRegistry
from domain.compute.keypairs import KeyPair
from domain.compute.quotas import ComputeQuota
from infra.database import Cursor
from projections.base import Projection, from_json, handles

FLAVORS, KEYPAIRS, HOSTS, QUOTAS = (
    "compute_flavors",
    "compute_keypairs",
    "compute_hosts",
    "compute_quotas",
)


class CatalogRows(Projection):
    # -- flavors ------------------------------------------------------------------
    @handles(Flavor.Created)
    def _flavor(self, cur: Cursor, e: Flavor.Created) -> None:
        self.upsert(
            cur,
            FLAVORS,
            {
                "flavorid": e.flavorid,
                "uuid": str(e.originator_id),
                "name": e.name,
                "vcpus": e.vcpus,
                "ram": e.ram,
                "disk": e.disk,
                "ephemeral": e.ephemeral,
                "swap": e.swap,
                "rxtx_factor": e.rxtx_factor,
                "is_public": e.is_public,
                "description": e.description,
                "extra_specs": {},
                "projects": [],
                "created_at": e.timestamp,
            },
        )

    def _flavor_change(self, cur: Cursor, e: Any, changes: dict[str, Any]) -> None:
        self.update(cur, FLAVORS, changes, {"uuid": str(e.originator_id)})

    @handles(Flavor.Updated)
    def _flavor_updated(self, cur: Cursor, e: Flavor.Updated) -> None:
        self._flavor_change(cur, e, dict(e.changes))

    @handles(Flavor.ExtraSpecsChanged)
    def _flavor_specs(self, cur: Cursor, e: Flavor.ExtraSpecsChanged) -> None:
        self._flavor_change(cur, e, {"extra_specs": e.extra_specs})

    @handles(Flavor.AccessChanged)
    def _flavor_access(self, cur: Cursor, e: Flavor.AccessChanged) -> None:
        self._flavor_change(cur, e, {"projects": e.projects})

    @handles(Flavor.Deleted)
    def _flavor_deleted(self, cur: Cursor, e: Flavor.Deleted) -> None:
        self.delete(cur, FLAVORS, {"uuid": str(e.originator_id)})

    # -- key pairs ------------------------------------------------------------------
    @handles(KeyPair.Created)
    def _keypair(self, cur: Cursor, e: KeyPair.Created) -> None:
        self.upsert(
            cur,
            KEYPAIRS,
            {
                "user_id": e.user_id,
                "name": e.name,
                "id": str(e.originator_id),
                "fingerprint": e.fingerprint,
                "public_key": e.public_key,
                "type": e.key_type,
                "created_at": e.timestamp,
            },
        )

    @handles(KeyPair.Deleted)
    def _keypair_deleted(self, cur: Cursor, e: KeyPair.Deleted) -> None:
        self.delete(cur, KEYPAIRS, {"id": str(e.originator_id)})

    # -- hosts ------------------------------------------------------------------------
    @handles(Host.Created)
    def _host(self, cur: Cursor, e: Host.Created) -> None:
        self.upsert(
            cur,
            HOSTS,
            {
                "hostname": e.hostname,
                "id": str(e.originator_id),
                "number": 0,
                "inventory": e.inventory,
                "claims": {},
                "created_at": e.timestamp,
                "updated_at": e.timestamp,
            },
        )

    def _host_claims(self, cur: Cursor, host_id: str) -> dict[str, Any]:
        cur.execute(
            sql.SQL("SELECT claims FROM {} WHERE id = %s").format(self.table(HOSTS)), [host_id]
        )
        row = cur.fetchone()
        return dict(from_json(row["claims"], {})) if row else {}

    @handles(Host.InventoryChanged)
    def _host_inventory(self, cur: Cursor, e: Host.InventoryChanged) -> None:
        changes = {"inventory": e.inventory, "updated_at": e.timestamp}
        self.update(cur, HOSTS, changes, {"id": str(e.originator_id)})

    @handles(Host.Claimed)
    def _host_claimed(self, cur: Cursor, e: Host.Claimed) -> None:
        claims = self._host_claims(cur, str(e.originator_id))
        claims[e.server_id] = e.resources
        changes = {"claims": claims, "updated_at": e.timestamp}
        self.update(cur, HOSTS, changes, {"id": str(e.originator_id)})

    @handles(Host.ClaimReleased)
    def _host_released(self, cur: Cursor, e: Host.ClaimReleased) -> None:
        claims = self._host_claims(cur, str(e.originator_id))
        claims.pop(e.server_id, None)
        changes = {"claims": claims, "updated_at": e.timestamp}
        self.update(cur, HOSTS, changes, {"id": str(e.originator_id)})

    @handles(HostRegistry.HostAdded)
    def _host_added(self, cur: Cursor, e: HostRegistry.HostAdded) -> None:
        # The n-th registered host is hypervisor n (the integer id before 2.53).
        self.update(cur, HOSTS, {"number": e.originator_version - 1}, {"hostname": e.hostname})

    # -- quotas -------------------------------------------------------------------------
    @handles(ComputeQuota.Created)
    def _quota(self, cur: Cursor, e: ComputeQuota.Created) -> None:
        self.upsert(
            cur,
            QUOTAS,
            {"project_id": e.project_id, "aggregate_id": str(e.originator_id), "limits": {}},
        )

    @handles(ComputeQuota.LimitsSet)
    def _quota_set(self, cur: Cursor, e: ComputeQuota.LimitsSet) -> None:
        self._quota_limits(cur, e, e.limits)

    @handles(ComputeQuota.Reset)
    def _quota_reset(self, cur: Cursor, e: ComputeQuota.Reset) -> None:
        self._quota_limits(cur, e, {})

    def _quota_limits(self, cur: Cursor, e: Any, limits: dict[str, int]) -> None:
        self.update(cur, QUOTAS, {"limits": limits}, {"aggregate_id": str(e.originator_id)})
