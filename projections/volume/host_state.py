"""The desired state of hosts, for the agents that converge them.

`storage_host_state`: every volume and snapshot whose file lives on a storage
host, with what its file should be (origin, size, whether it should exist).
Deleted ones are absent: the agent removes files nobody owns.

`compute_volume_state`: the attachments of the servers on a compute host —
what the compute agent should have plugged (`attaching`, `attached`) or
unplugged (`detaching`); absent ones must not be plugged at all.
"""

from __future__ import annotations

from typing import Any

from infra.database import Database
from projections.volume.queries import VolumeQueries, doc_of

Doc = dict[str, Any]


def storage_host_state(db: Database, hostname: str) -> Doc:
    queries = VolumeQueries(db)
    volumes = [
        {
            "id": d["id"],
            "status": d["status"],
            "size": d["size"],
            "target_size": d.get("target_size", d["size"]),
            "source": d.get("source", {"kind": "empty"}),
            "freezes": d.get("freezes", []),
            "upload": d.get("upload"),
        }
        for d in map(doc_of, queries.rows("volume_volumes", {"host": hostname}, "created_at,id"))
    ]
    snapshots = [
        {"id": d["id"], "volume_id": d["volume_id"], "status": d["status"], "size": d["size"]}
        for d in map(doc_of, queries.rows("volume_snapshots", {"host": hostname}, "created_at,id"))
    ]
    facts = queries.hosts().get(hostname, {})
    return {"host": hostname, "facts": facts, "volumes": volumes, "snapshots": snapshots}


def compute_volume_state(db: Database, hostname: str) -> Doc:
    """`{"host", "attachments": [{attachment_id, volume_id, server_id, status,
    mode, mountpoint, connection_info}]}` for the compute agent of `hostname`."""
    servers = db.query(
        "SELECT id FROM compute_servers WHERE host = %s AND deleted = %s", [hostname, False]
    )
    queries = VolumeQueries(db)
    found = queries.attachments({"server_id": [r["id"] for r in servers]})
    out = [
        {
            "attachment_id": a["id"],
            "volume_id": a["volume_id"],
            "server_id": a["server_id"],
            "status": a["status"],
            "mode": a.get("mode", "rw"),
            "mountpoint": a.get("mountpoint"),
            "connection_info": a.get("connection_info", {}),
        }
        for a in found
    ]
    return {"host": hostname, "attachments": out}
