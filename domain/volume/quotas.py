"""A project's block storage quota limits (Cinder's os-quota-sets).

Only limits that differ from the defaults are recorded; usage is counted from
the read model when a volume or snapshot is created (as compute does), so
creating volumes never collides on one counter aggregate.
"""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput

QUOTA_NAMESPACE = uuid.UUID("3e7c2a91-5b4d-4f08-9c6e-1a2b3c4d5e6f")

DEFAULT_QUOTAS: dict[str, int] = {
    "volumes": 10,
    "snapshots": 10,
    "gigabytes": 1000,
    "backups": 10,
    "backup_gigabytes": 1000,
    "per_volume_gigabytes": -1,
    "groups": 10,
}


def quota_id(project_id: str) -> uuid.UUID:
    return uuid.uuid5(QUOTA_NAMESPACE, project_id)


def check_limits(limits: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, value in limits.items():
        if key not in DEFAULT_QUOTAS:
            raise InvalidInput(f"Invalid input received: Bad key(s) in quota set: {key}")
        try:
            number = int(value)
        except (TypeError, ValueError) as error:
            raise InvalidInput(
                f"Invalid input received: Quota {key} must be an integer."
            ) from error
        if number < -1:
            raise InvalidInput(f"Invalid input received: Quota {key} must be -1 or more.")
        out[key] = number
    return out


class VolumeQuota(Aggregate):
    class Created(Aggregate.Created):
        class_version = 1
        project_id: str

    @event(Created)
    def __init__(self, project_id: str) -> None:
        self.project_id = project_id
        self.limits: dict[str, int] = {}

    @classmethod
    def create_id(cls, project_id: str, **_: Any) -> uuid.UUID:
        return quota_id(project_id)

    class LimitsSet(Aggregate.Event):
        class_version = 1
        limits: dict[str, int]

    def set_limits(self, limits: dict[str, Any]) -> None:
        merged = {**self.limits, **check_limits(limits)}
        if merged != self.limits:
            self._set(merged)

    def reset(self) -> None:
        if self.limits:
            self._set({})

    @event(LimitsSet)
    def _set(self, limits: dict[str, int]) -> None:
        self.limits = limits
