"""A router's extra routes: replaced by a PUT, or added and removed atomically.

Nexthops are checked against what the router is connected to now — its
interface and gateway ports' subnets — in the same transaction as the
change, so a route can never point past an interface removed concurrently.
"""

from __future__ import annotations

import uuid
from typing import Any

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.network.support import load
from commands.unit_of_work import UnitOfWork
from domain.network import routes as extra
from domain.network.errors import InUse, check_revision
from domain.network.ports import Port
from domain.network.routers import Router
from domain.network.subnets import Subnet


class AddExtraRoutes(Command):
    router_id: uuid.UUID
    routes: list[Any]
    expected_revision: int | None = None


class RemoveExtraRoutes(Command):
    router_id: uuid.UUID
    routes: list[Any]
    expected_revision: int | None = None


def _connections(uow: UnitOfWork, router: Router) -> tuple[list[str], list[str]]:
    """(CIDRs of the subnets the router has a port on, the router's addresses)."""
    port_ids = list(router.interfaces)
    if router.gateway is not None:
        port_ids.append(router.gateway["port_id"])
    cidrs: list[str] = []
    ips: list[str] = []
    for port_id in port_ids:
        port = uow.get(Port, uuid.UUID(port_id))
        for fixed in port.fixed_ips if port is not None else ():
            subnet = uow.get(Subnet, uuid.UUID(fixed["subnet_id"]))
            if subnet is not None:
                cidrs.append(subnet.cidr)
            ips.append(fixed["ip_address"])
    return cidrs, ips


def set_routes(uow: UnitOfWork, router: Router, routes: Any) -> list[extra.Route]:
    """Replace the router's routes after Neutron's checks; the new list."""
    wanted = extra.normalise(routes)
    cidrs, ips = _connections(uow, router)
    extra.check(wanted, cidrs, ips)
    router.update(routes=wanted)
    return wanted


def check_interface_unused(router: Router, subnet: Subnet) -> None:
    """An interface whose subnet holds a route's nexthop must stay (Neutron's rule)."""
    if extra.using(router.routes, subnet.cidr):
        raise InUse(
            f"Router interface for subnet {subnet.id} on router {router.id} cannot be "
            "deleted, as it is required by one or more routes.",
            "RouterInterfaceInUseByRoute",
        )


def _change(uow: UnitOfWork, ctx: Context, router_id: uuid.UUID, expected: int | None) -> Router:
    router = load(uow, Router, router_id, "router", ctx)
    router.require_alive()
    check_revision(router.revision_number, expected)
    return router


@handler(AddExtraRoutes)
def add_routes(cmd: AddExtraRoutes, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    router = _change(uow, ctx, cmd.router_id, cmd.expected_revision)
    set_routes(uow, router, extra.added(router.routes, extra.normalise(cmd.routes)))
    return {"id": router.id}


@handler(RemoveExtraRoutes)
def remove_routes(
    cmd: RemoveExtraRoutes, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    router = _change(uow, ctx, cmd.router_id, cmd.expected_revision)
    set_routes(uow, router, extra.removed(router.routes, extra.normalise(cmd.routes)))
    return {"id": router.id}
