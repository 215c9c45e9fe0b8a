"""The block storage read model's tables.

Columns are what lists filter and sort on; the rest of what Cinder shows is a
JSON `body`. Attachments have a table of their own because both Cinder's
attachments API and a compute host's desired state query them directly.
"""

from __future__ import annotations

from projections.base import Table

T, B, INT = "TEXT", "BOOLEAN", "BIGINT"

VOLUMES = Table(
    "volume_volumes",
    (
        ("id", T),
        ("project_id", T),
        ("user_id", T),
        ("name", T),
        ("status", T),
        ("size", INT),
        ("host", T),
        ("availability_zone", T),
        ("bootable", B),
        ("created_at", T),
        ("updated_at", T),
        ("body", T),
    ),
    ("id",),
    (("project_id", "created_at"), ("host",), ("created_at",)),
)

ATTACHMENTS = Table(
    "volume_attachments",
    (
        ("id", T),
        ("volume_id", T),
        ("server_id", T),
        ("project_id", T),
        ("status", T),
        ("host", T),
        ("created_at", T),
        ("body", T),
    ),
    ("id",),
    (("volume_id",), ("server_id",)),
)

SNAPSHOTS = Table(
    "volume_snapshots",
    (
        ("id", T),
        ("project_id", T),
        ("volume_id", T),
        ("name", T),
        ("status", T),
        ("size", INT),
        ("host", T),
        ("created_at", T),
        ("updated_at", T),
        ("body", T),
    ),
    ("id",),
    (("project_id", "created_at"), ("volume_id",), ("host",)),
)

TYPES = Table(
    "volume_types",
    (
        ("id", T),
        ("name", T),
        ("description", T),
        ("is_public", B),
        ("extra_specs", T),
        ("created_at", T),
    ),
    ("id",),
    (("name",),),
)

QUOTAS = Table(
    "volume_quotas",
    (("project_id", T), ("aggregate_id", T), ("limits", T)),
    ("project_id",),
    (("aggregate_id",),),
)

HOSTS = Table("volume_hosts", (("hostname", T), ("facts", T)), ("hostname",))

TABLES = (VOLUMES, ATTACHMENTS, SNAPSHOTS, TYPES, QUOTAS, HOSTS)
