"""Routers: external gateways and interfaces, each with its port, atomically."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.network.addresses import FixedIp, assign
from commands.network.extra_routes import check_interface_unused, set_routes
from commands.network.ports import drop_port
from commands.network.support import StrictModel, changes_of, claim_mac, find, load, owner_project
from commands.unit_of_work import UnitOfWork
from domain.network.errors import InUse, Invalid, NeutronNotFound, check_revision
from domain.network.networks import Network
from domain.network.ports import ROUTER_GATEWAY, ROUTER_INTERFACE, Port
from domain.network.routers import Router
from domain.network.subnets import Subnet


class Gateway(StrictModel):
    network_id: uuid.UUID
    enable_snat: bool = True
    external_fixed_ips: list[FixedIp] | None = None


class CreateRouter(Command):
    project_id: str | None = None
    name: str = ""
    description: str = ""
    admin_state_up: bool = True
    gateway: Gateway | None = None
    tags: list[str] = Field(default_factory=list)


class UpdateRouter(Command):
    router_id: uuid.UUID
    expected_revision: int | None = None
    name: str = ""
    description: str = ""
    admin_state_up: bool = True
    routes: list[Any] = Field(default_factory=list)
    gateway: Gateway | None = None  # sent as null: remove the gateway


class DeleteRouter(Command):
    router_id: uuid.UUID
    # If-Match: revision_number=N (None: whatever the revision).
    expected_revision: int | None = None


class AddRouterInterface(Command):
    router_id: uuid.UUID
    subnet_id: uuid.UUID | None = None
    port_id: uuid.UUID | None = None


class RemoveRouterInterface(Command):
    router_id: uuid.UUID
    subnet_id: uuid.UUID | None = None
    port_id: uuid.UUID | None = None


def _router_port(
    uow: UnitOfWork, router: Router, network: Network, owner: str, fixed: list[FixedIp] | None
) -> Port:
    port_id = uuid.uuid4()
    port = Port(
        id=port_id,
        network_id=str(network.id),
        # Neutron leaves gateway ports without a project: tenants never own them.
        project_id="" if owner == ROUTER_GATEWAY else router.project_id,
        name="",
        description="",
        admin_state_up=True,
        mac_address=(mac := claim_mac(uow, port_id, None)),
        fixed_ips=assign(
            uow, network, port_id, owner, fixed, gateway=owner == ROUTER_INTERFACE, mac=mac
        ),
        device_id=str(router.id),
        device_owner=owner,
        security_groups=[],
        allowed_address_pairs=[],
        port_security_enabled=False,
        binding_host_id="",
        tags=[],
    )
    uow.add(port)
    return port


def _set_gateway(uow: UnitOfWork, router: Router, wanted: Gateway | None) -> None:
    current = router.gateway
    if (
        current is not None
        and wanted is not None
        and current["network_id"] == str(wanted.network_id)
        and wanted.external_fixed_ips is None
    ):
        router.update(gateway={**current, "enable_snat": wanted.enable_snat})
        return
    if current is not None:
        drop_port(uow, find(uow, Port, current["port_id"], "port"))
    if wanted is None:
        router.update(gateway=None)
        return
    network = find(uow, Network, wanted.network_id, "network")
    if not network.external:
        raise Invalid(
            f"Bad router request: Network {network.id} is not an external network.", "BadRequest"
        )
    port = _router_port(uow, router, network, ROUTER_GATEWAY, wanted.external_fixed_ips)
    if not port.fixed_ips:
        raise Invalid(
            f"Bad router request: No subnet on external network {network.id}.", "BadRequest"
        )
    router.update(
        gateway={
            "network_id": str(network.id),
            "port_id": str(port.id),
            "enable_snat": wanted.enable_snat,
            "external_fixed_ips": port.fixed_ips,
        }
    )


@handler(CreateRouter)
def create_router(cmd: CreateRouter, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    router = Router(
        project_id=owner_project(cmd.project_id, ctx),
        name=cmd.name,
        description=cmd.description,
        admin_state_up=cmd.admin_state_up,
        tags=cmd.tags,
    )
    uow.add(router)
    if cmd.gateway is not None:
        _set_gateway(uow, router, cmd.gateway)
    return {"id": router.id}


@handler(UpdateRouter)
def update_router(cmd: UpdateRouter, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    router = load(uow, Router, cmd.router_id, "router", ctx)
    router.update(
        cmd.expected_revision,
        **changes_of(cmd, "router_id", "expected_revision", "gateway", "routes"),
    )
    if "gateway" in cmd.model_fields_set:
        _set_gateway(uow, router, cmd.gateway)
    if "routes" in cmd.model_fields_set:
        # After the gateway: a route may use the gateway's subnet as nexthop.
        set_routes(uow, router, cmd.routes)
    return {"id": router.id}


@handler(DeleteRouter)
def delete_router(cmd: DeleteRouter, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    router = load(uow, Router, cmd.router_id, "router", ctx)
    check_revision(router.revision_number, cmd.expected_revision)
    router.delete()
    if router.gateway is not None:
        drop_port(uow, find(uow, Port, router.gateway["port_id"], "port"))
    return {"id": router.id}


def _interface(router: Router, port: Port, subnet_id: str) -> dict[str, Any]:
    """The unwrapped body Neutron answers interface calls with."""
    return {
        "id": str(router.id),
        "tenant_id": router.project_id,
        "project_id": router.project_id,
        "port_id": str(port.id),
        "network_id": port.network_id,
        "subnet_id": subnet_id,
        "subnet_ids": [subnet_id],
    }


def _one_of(subnet_id: uuid.UUID | None, port_id: uuid.UUID | None) -> None:
    if (subnet_id is None) == (port_id is None):
        raise Invalid(
            "Bad router request: Either subnet_id or port_id must be specified.", "BadRequest"
        )


@handler(AddRouterInterface)
def add_interface(
    cmd: AddRouterInterface, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    _one_of(cmd.subnet_id, cmd.port_id)
    router = load(uow, Router, cmd.router_id, "router", ctx)
    if cmd.port_id is not None:
        port = load(uow, Port, cmd.port_id, "port", ctx)
        if port.device_id or port.device_owner:
            raise InUse(
                f"Port {port.id} is already in use by {port.device_owner or port.device_id}.",
                "PortInUse",
            )
        if not port.fixed_ips:
            raise Invalid(
                "Bad router request: Router port must have at least one fixed IP.", "BadRequest"
            )
        port.update(device_id=str(router.id), device_owner=ROUTER_INTERFACE)
        subnet_id = port.fixed_ips[0]["subnet_id"]
    else:
        assert cmd.subnet_id is not None
        subnet = load(uow, Subnet, cmd.subnet_id, "subnet", ctx)
        if subnet.gateway_ip is None:
            raise Invalid(
                f"Bad router request: Subnet {subnet.id} does not have a gateway IP.", "BadRequest"
            )
        subnet_id = str(subnet.id)
        if router.port_on(subnet_id) is not None:
            raise Invalid(
                f"Bad router request: Router already has a port on subnet {subnet_id}.",
                "BadRequest",
            )
        network = find(uow, Network, subnet.network_id, "network")
        fixed = [FixedIp(subnet_id=subnet.id, ip_address=subnet.gateway_ip)]
        port = _router_port(uow, router, network, ROUTER_INTERFACE, fixed)
    router.add_interface(str(port.id), subnet_id)
    return _interface(router, port, subnet_id)


@handler(RemoveRouterInterface)
def remove_interface(
    cmd: RemoveRouterInterface, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    _one_of(cmd.subnet_id, cmd.port_id)
    router = load(uow, Router, cmd.router_id, "router", ctx)
    if cmd.port_id is not None:
        port_id = str(cmd.port_id)
        if port_id not in router.interfaces:
            raise NeutronNotFound(
                "router interface for port",
                f"{port_id} on router {router.id}",
                "RouterInterfaceNotFound",
            )
    else:
        found = router.port_on(str(cmd.subnet_id))
        if found is None:
            raise NeutronNotFound(
                "router interface for subnet",
                f"{cmd.subnet_id} on router {router.id}",
                "RouterInterfaceNotFoundForSubnet",
            )
        port_id = found
    port = find(uow, Port, port_id, "port")
    subnet_id = router.interfaces[port_id]
    subnet = uow.get(Subnet, uuid.UUID(subnet_id))
    if subnet is not None:
        check_interface_unused(router, subnet)
    router.remove_interface(port_id)
    drop_port(uow, port)
    return _interface(router, port, subnet_id)
