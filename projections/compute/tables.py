"""The compute read models' tables.

Servers keep the columns lists filter and sort on (project, name, state,
host, image, flavor, times) and the rest of what Nova shows in a JSON `body`.
Ports and addresses are not copied here: a server's addresses are read from
the network read model when the server is shown, so they are never stale.
"""

from __future__ import annotations

from projections.base import Table

T, B, INT, REAL = "TEXT", "BOOLEAN", "BIGINT", "REAL"

SERVERS = Table(
    "compute_servers",
    (
        ("id", T),
        ("project_id", T),
        ("user_id", T),
        ("name", T),
        ("vm_state", T),
        ("task_state", T),
        ("power_state", INT),
        ("host", T),
        ("availability_zone", T),
        ("image_id", T),
        ("flavor_id", T),
        ("reservation_id", T),
        ("deleted", B),
        ("created_at", T),
        ("updated_at", T),
        ("launched_at", T),
        ("terminated_at", T),
        ("last_action", T),
        ("tags", T),
        ("body", T),
    ),
    ("id",),
    (("project_id", "created_at"), ("created_at",), ("host",), ("updated_at",)),
)

ACTIONS = Table(
    "compute_instance_actions",
    (
        ("server_id", T),
        ("request_id", T),
        ("action", T),
        ("project_id", T),
        ("user_id", T),
        ("start_time", T),
        ("updated_at", T),
        ("message", T),
        ("events", T),
    ),
    ("server_id", "request_id"),
)

CONSOLES = Table("compute_console", (("server_id", T), ("output", T)), ("server_id",))

FLAVORS = Table(
    "compute_flavors",
    (
        ("flavorid", T),
        ("uuid", T),
        ("name", T),
        ("vcpus", INT),
        ("ram", INT),
        ("disk", INT),
        ("ephemeral", INT),
        ("swap", INT),
        ("rxtx_factor", REAL),
        ("is_public", B),
        ("description", T),
        ("extra_specs", T),
        ("projects", T),
        ("created_at", T),
    ),
    ("flavorid",),
    (("uuid",),),
)

KEYPAIRS = Table(
    "compute_keypairs",
    (
        ("user_id", T),
        ("name", T),
        ("id", T),
        ("fingerprint", T),
        ("public_key", T),
        ("type", T),
        ("created_at", T),
    ),
    ("user_id", "name"),
    (("id",),),
)

HOSTS = Table(
    "compute_hosts",
    (
        ("hostname", T),
        ("id", T),
        ("number", INT),
        ("inventory", T),
        ("claims", T),
        ("created_at", T),
        ("updated_at", T),
    ),
    ("hostname",),
    (("id",),),
)

QUOTAS = Table(
    "compute_quotas",
    (("project_id", T), ("aggregate_id", T), ("limits", T)),
    ("project_id",),
    (("aggregate_id",),),
)

TABLES = (SERVERS, ACTIONS, CONSOLES, FLAVORS, KEYPAIRS, HOSTS, QUOTAS)
