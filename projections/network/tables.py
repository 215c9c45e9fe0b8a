"""The network read models: one table per Neutron collection.

Each row keeps the resource as Neutron shows it in a JSON `body`, plus the
columns lists filter on most (project, network, device, host) so that those
filters run in SQL; any other attribute filters the decoded bodies.
"""

from __future__ import annotations

from projections.base import Table

T, B, INT = "TEXT", "BOOLEAN", "BIGINT"

COMMON = (
    ("id", T),
    ("project_id", T),
    ("name", T),
    ("revision_number", INT),
    ("created_at", T),
    ("updated_at", T),
    ("body", T),
)

TABLES = (
    Table(
        "net_networks",
        (*COMMON, ("shared", B), ("external", B)),
        ("id",),
        (("project_id",), ("name",)),
    ),
    Table(
        "net_subnets",
        (*COMMON, ("network_id", T)),
        ("id",),
        (("project_id",), ("network_id",)),
    ),
    Table(
        "net_ports",
        (
            *COMMON,
            ("network_id", T),
            ("device_id", T),
            ("device_owner", T),
            ("host", T),
        ),
        ("id",),
        (("project_id",), ("network_id",), ("device_id",), ("host",)),
    ),
    Table("net_routers", COMMON, ("id",), (("project_id",),)),
    Table(
        "net_floatingips",
        (*COMMON, ("network_id", T), ("port_id", T)),
        ("id",),
        (("project_id",), ("port_id",)),
    ),
    Table("net_security_groups", COMMON, ("id",), (("project_id",),)),
    Table(
        "net_security_group_rules",
        (*COMMON, ("security_group_id", T)),
        ("id",),
        (("security_group_id",), ("project_id",)),
    ),
    Table("net_quotas", (("id", T), ("project_id", T), ("limits", T)), ("id",), (("project_id",),)),
)

# collection name in the API -> table
COLLECTIONS = {
    "networks": "net_networks",
    "subnets": "net_subnets",
    "ports": "net_ports",
    "routers": "net_routers",
    "floatingips": "net_floatingips",
    "security-groups": "net_security_groups",
    "security-group-rules": "net_security_group_rules",
}
