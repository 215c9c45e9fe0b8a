"""A project's network quotas: limits the project may not exceed."""

from __future__ import annotations

import uuid

from eventsourcing.domain import Aggregate, event

from domain.network.errors import Invalid

QUOTA_NAMESPACE = uuid.UUID("9a0d7c52-3f3e-4e0b-8f4f-1f4b0c6e2d11")

# Neutron's own defaults; -1 means unlimited.
DEFAULT_QUOTAS: dict[str, int] = {
    "network": 100,
    "subnet": 100,
    "port": 500,
    "router": 10,
    "floatingip": 50,
    "security_group": 10,
    "security_group_rule": 100,
    "subnetpool": -1,
    "rbac_policy": 10,
}


def quota_id(project_id: str) -> uuid.UUID:
    return uuid.uuid5(QUOTA_NAMESPACE, project_id)


def check_limits(limits: dict[str, object]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, value in limits.items():
        if name not in DEFAULT_QUOTAS:
            raise Invalid(f"Unrecognized attribute(s) '{name}'.")
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise Invalid(f"'{value}' is not an integer.")
        try:
            number = int(value)
        except ValueError as error:
            raise Invalid(f"'{value}' is not an integer.") from error
        if number < -1:
            raise Invalid(f"'{number}' should be greater than or equal to -1.")
        out[name] = number
    return out


class QuotaSet(Aggregate):
    """Only the limits set explicitly; the rest fall back to the defaults."""

    class Created(Aggregate.Created):
        class_version = 1
        project_id: str

    @event(Created)
    def __init__(self, project_id: str) -> None:
        self.project_id = project_id
        self.limits: dict[str, int] = {}

    @classmethod
    def create_id(cls, project_id: str) -> uuid.UUID:
        return quota_id(project_id)

    class LimitsSet(Aggregate.Event):
        class_version = 1
        limits: dict[str, int]

    class Reset(Aggregate.Event):
        class_version = 1

    def set_limits(self, limits: dict[str, object]) -> None:
        self._set({**self.limits, **check_limits(limits)})

    @event(LimitsSet)
    def _set(self, limits: dict[str, int]) -> None:
        self.limits = limits

    def reset(self) -> None:
        if self.limits:
            self._reset()

    @event(Reset)
    def _reset(self) -> None:
        self.limits = {}

    def effective(self) -> dict[str, int]:
        return {**DEFAULT_QUOTAS, **self.limits}
