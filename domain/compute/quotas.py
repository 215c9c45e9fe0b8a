"""A project's compute quota limits (Nova's os-quota-sets).

Only limits that differ from the defaults are recorded. Usage is counted
from the servers a project holds when a server is created (Nova's counted
quotas), not kept here: a usage counter on one aggregate would make every
boot in a project collide with every other.
"""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput

QUOTA_NAMESPACE = uuid.UUID("9a0d4c55-2f6e-4b1b-8c3f-0e7d5a4c9b21")

DEFAULT_QUOTAS: dict[str, int] = {
    "instances": 10,
    "cores": 20,
    "ram": 51200,
    "key_pairs": 100,
    "metadata_items": 128,
    "injected_files": 5,
    "injected_file_content_bytes": 10240,
    "injected_file_path_bytes": 255,
    "server_groups": 10,
    "server_group_members": 10,
}

# Shown before 2.36 (the proxy APIs to networking), always unlimited here.
LEGACY_QUOTAS: dict[str, int] = {
    "floating_ips": -1,
    "fixed_ips": -1,
    "security_groups": -1,
    "security_group_rules": -1,
}


def quota_id(project_id: str) -> uuid.UUID:
    return uuid.uuid5(QUOTA_NAMESPACE, project_id)


def check_limits(limits: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, value in limits.items():
        if key not in DEFAULT_QUOTAS:
            raise InvalidInput(
                f"Bad key(s) {key} in quota_set"
                if key not in LEGACY_QUOTAS
                else f"Quota {key} can not be changed"
            )
        try:
            number = int(value)
        except (TypeError, ValueError) as error:
            raise InvalidInput(f"Invalid input for field/attribute {key}.") from error
        if number < -1:
            raise InvalidInput(
                f"Invalid input for field/attribute {key}. Value: {number}. "
                f"{number} is less than the minimum of -1"
            )
        out[key] = number
    return out


class ComputeQuota(Aggregate):
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

    def effective(self) -> dict[str, int]:
        return {**DEFAULT_QUOTAS, **self.limits}

    class LimitsSet(Aggregate.Event):
        class_version = 1
        limits: dict[str, int]

    def set_limits(self, limits: dict[str, Any]) -> None:
        merged = {**self.limits, **check_limits(limits)}
        if merged != self.limits:
            self._set(merged)

    @event(LimitsSet)
    def _set(self, limits: dict[str, int]) -> None:
        self.limits = limits

    class Reset(Aggregate.Event):
        class_version = 1

    def reset(self) -> None:
        if self.limits:
            self._reset()

    @event(Reset)
    def _reset(self) -> None:
        self.limits = {}
