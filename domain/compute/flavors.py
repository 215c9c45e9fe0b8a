"""A flavor: the size of a server (vCPUs, RAM, disks) and who may use it.

Flavor ids are strings the admin chooses (Nova allows "1" or "m1.tiny"), so
the aggregate has its own UUID and a name claim maps the flavor id to it;
servers copy the flavor they were built from, so deleting a flavor later
never changes a running server.
"""

from __future__ import annotations

import re
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.base import Resource
from domain.errors import Conflict, InvalidInput

FLAVOR_ID_PATTERN = re.compile(r"^(?! )[a-zA-Z0-9. _-]+(?<! )$")
MAX_INT = 2**31 - 1


def check_size(name: str, value: int, minimum: int) -> int:
    """Nova's schema messages for flavor sizes."""
    prefix = f"Invalid input for field/attribute {name}. Value: {value}."
    if value < minimum:
        raise InvalidInput(f"{prefix} {value} is less than the minimum of {minimum}")
    if value > MAX_INT:
        raise InvalidInput(f"{prefix} {value} is greater than the maximum of {MAX_INT}")
    return value


class Flavor(Resource):
    class Created(Aggregate.Created):
        class_version = 1
        flavorid: str
        name: str
        vcpus: int
        ram: int
        disk: int
        ephemeral: int
        swap: int
        rxtx_factor: float
        is_public: bool
        description: str | None

    @event(Created)
    def __init__(
        self,
        flavorid: str,
        name: str,
        vcpus: int,
        ram: int,
        disk: int,
        ephemeral: int,
        swap: int,
        rxtx_factor: float,
        is_public: bool,
        description: str | None,
    ) -> None:
        if not FLAVOR_ID_PATTERN.match(flavorid) or len(flavorid) > 255:
            raise InvalidInput(f"Invalid flavor id '{flavorid}'.")
        if not name.strip() or len(name) > 255:
            raise InvalidInput("Invalid input for field/attribute name.")
        self.flavorid = flavorid
        self.name = name
        self.vcpus = check_size("vcpus", vcpus, 1)
        self.ram = check_size("ram", ram, 1)
        self.disk = check_size("disk", disk, 0)
        self.ephemeral = check_size("OS-FLV-EXT-DATA:ephemeral", ephemeral, 0)
        self.swap = check_size("swap", swap, 0)
        if rxtx_factor <= 0:
            raise InvalidInput("Invalid input for field/attribute rxtx_factor.")
        self.rxtx_factor = rxtx_factor
        self.is_public = is_public
        self.description = description
        self.extra_specs: dict[str, str] = {}
        self.projects: list[str] = []

    def snapshot(self) -> dict[str, Any]:
        """What a server keeps of the flavor it was built from."""
        return {
            "id": self.flavorid,
            "name": self.name,
            "vcpus": self.vcpus,
            "ram": self.ram,
            "disk": self.disk,
            "ephemeral": self.ephemeral,
            "swap": self.swap,
            "extra_specs": dict(self.extra_specs),
        }

    def usable_by(self, project_id: str | None, is_admin: bool) -> bool:
        return self.is_public or is_admin or (project_id or "") in self.projects

    def set_description(self, description: str | None) -> None:
        self._apply_changes({"description": description})

    class ExtraSpecsChanged(Aggregate.Event):
        class_version = 1
        extra_specs: dict[str, str]

    def set_extra_specs(self, specs: dict[str, str]) -> None:
        self.require_alive()
        for key, value in specs.items():
            if not key or len(key) > 255 or len(str(value)) > 255:
                raise InvalidInput(f"Invalid extra spec '{key}'.")
        merged = {**self.extra_specs, **{k: str(v) for k, v in specs.items()}}
        if merged != self.extra_specs:
            self._extra_specs(merged)

    def unset_extra_spec(self, key: str) -> bool:
        self.require_alive()
        if key not in self.extra_specs:
            return False
        self._extra_specs({k: v for k, v in self.extra_specs.items() if k != key})
        return True

    @event(ExtraSpecsChanged)
    def _extra_specs(self, extra_specs: dict[str, str]) -> None:
        self.extra_specs = extra_specs

    class AccessChanged(Aggregate.Event):
        class_version = 1
        projects: list[str]

    def add_access(self, project_id: str) -> None:
        self.require_alive()
        if self.is_public:
            raise Conflict("Can not add access to a public flavor.")
        if project_id in self.projects:
            raise Conflict(
                f"Flavor access already exists for flavor {self.flavorid} "
                f"and project {project_id} combination."
            )
        self._access(sorted([*self.projects, project_id]))

    def remove_access(self, project_id: str) -> None:
        self.require_alive()
        if project_id not in self.projects:
            raise Conflict(
                f"Flavor access not found for {self.flavorid} / {project_id} combination."
            )
        self._access([p for p in self.projects if p != project_id])

    @event(AccessChanged)
    def _access(self, projects: list[str]) -> None:
        self.projects = projects
