"""The scheduler, run inside the server-create command.

Strata schedules synchronously, in the same transaction that creates the
server and its ports: the claim on the host is one more event in that
transaction, so a server is never saved without its claim (or its ERROR),
and a lost race on a host is simply a version conflict the bus retries on
fresh state. A separate scheduler process reacting to ServerRequested events
would add a BUILD window and a second write for no gain in correctness.
"""

from __future__ import annotations

import random

from commands.bus import Dependencies
from commands.unit_of_work import UnitOfWork
from domain.compute.hosts import REGISTRY_ID, Host, HostRegistry, host_id
from domain.compute.placement import WEIGHERS, Request, choose
from domain.errors import InvalidInput

WEIGHER_SETTING = "compute_weigher"  # key of Dependencies.extras: "spread" | "pack"
SUBSET_SETTING = "compute_host_subset_size"  # key of Dependencies.extras: int, 1 by default


def hosts(uow: UnitOfWork) -> list[Host]:
    registry = uow.get(HostRegistry, REGISTRY_ID)
    if registry is None:
        return []
    found = [uow.get(Host, host_id(name)) for name in registry.hostnames]
    return [h for h in found if h is not None]


def availability_zones(uow: UnitOfWork) -> set[str]:
    return {str(h.inventory.get("availability_zone", "nova")) for h in hosts(uow)}


def check_zone(uow: UnitOfWork, zone: str | None) -> None:
    if zone and zone not in availability_zones(uow):
        raise InvalidInput("The requested availability zone is not available")


def place(uow: UnitOfWork, deps: Dependencies, request: Request) -> Host | None:
    """Choose a host and claim the request's resources on it (None: no valid host)."""
    weigher = str(deps.extras.get(WEIGHER_SETTING, "spread"))
    subset = int(deps.extras.get(SUBSET_SETTING, 1))
    host = choose(
        hosts(uow),
        request,
        weigher if weigher in WEIGHERS else "spread",
        subset,
        # A handler may draw random numbers: a retry simply draws again.
        random.choice,
    )
    if host is None:
        return None
    host.claim(request.server_id, request.resources)
    return host


def release(uow: UnitOfWork, hostname: str | None, server_id: str) -> None:
    if not hostname:
        return
    host = uow.get(Host, host_id(hostname))
    if host is not None:
        host.release(server_id)
