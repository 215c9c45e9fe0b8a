"""The storage hosts volumes can be placed on, in one registry aggregate.

Each storage agent registers its host (and the folder its files live in, which
is what a compute agent on the same machine opens to attach a volume). A new
volume is spread over the hosts of its zone; a snapshot or clone goes
where its source is, since backing chains cannot span hosts.
"""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event

REGISTRY_ID = uuid.UUID("0c8f6b4e-7d3a-4e21-a5b9-6f1d2c3e4a5b")


class StorageHosts(Aggregate):
    class Created(Aggregate.Created):
        class_version = 1

    @event(Created)
    def __init__(self) -> None:
        self.hosts: dict[str, dict[str, Any]] = {}

    @classmethod
    def create_id(cls, **_: Any) -> uuid.UUID:
        return REGISTRY_ID

    class HostRegistered(Aggregate.Event):
        class_version = 1
        hostname: str
        facts: dict[str, Any]

    def register(self, hostname: str, facts: dict[str, Any]) -> None:
        if self.hosts.get(hostname) != facts:
            self._registered(hostname, facts)

    @event(HostRegistered)
    def _registered(self, hostname: str, facts: dict[str, Any]) -> None:
        self.hosts = {**self.hosts, hostname: facts}

    def pick(self, availability_zone: str | None, volume_id: uuid.UUID) -> str | None:
        """The host for a new volume: spread by the volume's id, so placing one
        never has to count (or lock) the volumes of every host."""
        candidates = [
            name
            for name, facts in self.hosts.items()
            if availability_zone in (None, facts.get("availability_zone", "nova"))
        ]
        if not candidates:
            return None
        candidates.sort()
        return candidates[volume_id.int % len(candidates)]

    def zones(self) -> set[str]:
        return {str(f.get("availability_zone", "nova")) for f in self.hosts.values()}


def volume_file_name(volume_id: str) -> str:
    """A volume's active (top) file in its host's folder; always a leaf of its
    backing chain, so removing it never breaks another volume."""
    return f"volume-{volume_id}.qcow2"


def connection_info(facts: dict[str, Any], volume_id: str, mode: str) -> dict[str, Any]:
    """What a compute host needs to open the volume (os-brick's shape)."""
    folder = str(facts.get("volumes_dir", ""))
    return {
        "driver_volume_type": "file",
        "data": {
            "name": volume_file_name(volume_id),
            "device_path": f"{folder}/{volume_file_name(volume_id)}",
            "format": "qcow2",
            "access_mode": mode,
            "volume_id": volume_id,
        },
    }
