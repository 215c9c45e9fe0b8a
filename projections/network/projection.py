"""Network read models: events into Neutron-shaped rows.

Handlers are generic over the resource kinds (created / changed / deleted)
and registered in one table at the bottom, so "which event fills which
table" is one lookup.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from psycopg import sql

from domain.network.floatingips import FloatingIp
from domain.network.networks import Network
from domain.network.ports import Port
from domain.network.quotas import QuotaSet
from domain.network.routers import Router
from domain.network.rules import RULE_REVISION
from domain.network.security_groups import SecurityGroup
from domain.network.subnets import Subnet
from infra.database import Cursor
from projections.base import Projection
from projections.network.documents import DEFAULTS, neutron_fields
from projections.network.tables import TABLES

ENVELOPE = {"originator_id", "originator_version", "originator_topic", "timestamp"}
RULES = "net_security_group_rules"


def neutron_time(moment: datetime) -> str:
    """Neutron's spelling: seconds, UTC, a `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fields(event: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(event).items() if k not in ENVELOPE and not k.startswith("_")}


# Columns copied out of the body, per table, so SQL can filter on them.
COLUMNS = {
    "net_networks": {"shared": "shared", "external": "router:external"},
    "net_subnets": {"network_id": "network_id"},
    "net_ports": {
        "network_id": "network_id",
        "device_id": "device_id",
        "device_owner": "device_owner",
        "host": "binding:host_id",
    },
    "net_floatingips": {"network_id": "floating_network_id", "port_id": "port_id"},
}


class NetworkProjection(Projection):
    name = "network"
    tables = TABLES

    def _write(
        self,
        cur: Cursor,
        table: str,
        body: dict[str, Any],
        revision: int,
        created: str,
        updated: str,
    ) -> None:
        row = {
            "id": body["id"],
            "project_id": body.get("project_id", ""),
            "name": body.get("name", ""),
            "revision_number": revision,
            "created_at": created,
            "updated_at": updated,
            "body": json.dumps(body, sort_keys=True),
        }
        for column, key in COLUMNS.get(table, {}).items():
            row[column] = body.get(key)
        self.upsert(cur, table, row)

    def _read(self, cur: Cursor, table: str, ident: str) -> dict[str, Any] | None:
        cur.execute(
            sql.SQL("SELECT body, revision_number, created_at FROM {} WHERE id = %s").format(
                self.table(table)
            ),
            [ident],
        )
        return cur.fetchone()

    def created(self, cur: Cursor, table: str, event: Any) -> None:
        fields = _fields(event)
        rules = fields.pop("rules", None)
        body = {**DEFAULTS.get(table, {}), **neutron_fields(fields), "id": str(event.originator_id)}
        when = neutron_time(event.timestamp)
        self._write(cur, table, body, 1, when, when)
        for rule in (rules or {}).values():
            self._rule(cur, body, rule, when)

    def changed(self, cur: Cursor, table: str, event: Any, changes: dict[str, Any]) -> None:
        row = self._read(cur, table, str(event.originator_id))
        if row is None:
            return
        body = {**json.loads(row["body"]), **neutron_fields(changes)}
        self._write(
            cur,
            table,
            body,
            int(row["revision_number"]) + 1,
            row["created_at"],
            neutron_time(event.timestamp),
        )

    def deleted(self, cur: Cursor, table: str, event: Any) -> None:
        self.delete(cur, table, {"id": str(event.originator_id)})
        if table == "net_security_groups":
            self.delete(cur, RULES, {"security_group_id": str(event.originator_id)})

    def _rule(self, cur: Cursor, group: dict[str, Any], rule: dict[str, Any], when: str) -> None:
        body = {
            **rule,
            "security_group_id": group["id"],
            "project_id": group["project_id"],
            "remote_address_group_id": None,
            "normalized_cidr": rule.get("remote_ip_prefix"),
        }
        row = {
            "id": rule["id"],
            "project_id": group["project_id"],
            "name": "",
            "revision_number": RULE_REVISION,
            "created_at": when,
            "updated_at": when,
            "body": json.dumps(body, sort_keys=True),
            "security_group_id": group["id"],
        }
        self.upsert(cur, RULES, row)

    def rule_added(self, cur: Cursor, event: SecurityGroup.RuleAdded) -> None:
        row = self._read(cur, "net_security_groups", str(event.originator_id))
        if row is not None:
            self._rule(cur, json.loads(row["body"]), event.rule, neutron_time(event.timestamp))
            self.changed(cur, "net_security_groups", event, {})

    def rule_removed(self, cur: Cursor, event: SecurityGroup.RuleRemoved) -> None:
        self.delete(cur, RULES, {"id": event.rule_id})
        self.changed(cur, "net_security_groups", event, {})

    def subnets_changed(self, cur: Cursor, event: Any) -> None:
        row = self._read(cur, "net_networks", str(event.originator_id))
        if row is None:
            return
        subnets = set(json.loads(row["body"]).get("subnets", []))
        if isinstance(event, Network.SubnetAdded):
            subnets.add(event.subnet_id)
        else:
            subnets.discard(event.subnet_id)
        self.changed(cur, "net_networks", event, {"subnets": sorted(subnets)})

    def quotas(self, cur: Cursor, event: Any) -> None:
        ident = str(event.originator_id)
        if isinstance(event, QuotaSet.Created):
            self.upsert(
                cur, "net_quotas", {"id": ident, "project_id": event.project_id, "limits": {}}
            )
        else:
            self.update(cur, "net_quotas", {"limits": getattr(event, "limits", {})}, {"id": ident})


Handler = Callable[[NetworkProjection, Cursor, Any], None]


def _created(table: str) -> Handler:
    return lambda p, c, e: p.created(c, table, e)


def _changed(table: str) -> Handler:
    return lambda p, c, e: p.changed(c, table, e, getattr(e, "changes", {}))


def _deleted(table: str) -> Handler:
    return lambda p, c, e: p.deleted(c, table, e)


def _register() -> None:
    kinds: list[tuple[Any, str]] = [
        (Network, "net_networks"),
        (Subnet, "net_subnets"),
        (Port, "net_ports"),
        (Router, "net_routers"),
        (FloatingIp, "net_floatingips"),
        (SecurityGroup, "net_security_groups"),
    ]
    handlers: dict[type[Any], Handler] = {}
    for cls, table in kinds:
        handlers[cls.Created] = _created(table)
        handlers[cls.Updated] = _changed(table)
        handlers[cls.Changed] = _changed(table)
        handlers[cls.Deleted] = _deleted(table)
    handlers[Network.SubnetAdded] = NetworkProjection.subnets_changed
    handlers[Network.SubnetRemoved] = NetworkProjection.subnets_changed
    # Interface events carry no body change but bump the router's revision.
    handlers[Router.InterfaceAdded] = _changed("net_routers")
    handlers[Router.InterfaceRemoved] = _changed("net_routers")
    handlers[SecurityGroup.RuleAdded] = NetworkProjection.rule_added
    handlers[SecurityGroup.RuleRemoved] = NetworkProjection.rule_removed
    for quota_event in (QuotaSet.Created, QuotaSet.LimitsSet, QuotaSet.Reset):
        handlers[quota_event] = NetworkProjection.quotas
    NetworkProjection._handlers = handlers


_register()
