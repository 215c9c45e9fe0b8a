"""Networks and subnets."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.network.ports import drop_port
from commands.network.support import (
    allocate_vni,
    changes_of,
    find,
    load,
    owner_project,
    release_claim,
)
from commands.unit_of_work import UnitOfWork
from domain.network import ipv6
from domain.network.errors import Denied, InUse, Invalid, check_revision
from domain.network.networks import DEFAULT_MTU, Network
from domain.network.ports import DHCP, Port
from domain.network.subnets import Subnet


class CreateNetwork(Command):
    project_id: str | None = None
    name: str = ""
    description: str = ""
    admin_state_up: bool = True
    shared: bool = False
    external: bool = False
    mtu: int = DEFAULT_MTU
    port_security_enabled: bool = True
    segmentation_id: int | None = None
    tags: list[str] = Field(default_factory=list)


class UpdateNetwork(Command):
    network_id: uuid.UUID
    expected_revision: int | None = None
    name: str = ""
    description: str = ""
    admin_state_up: bool = True
    shared: bool = False
    external: bool = False
    mtu: int = DEFAULT_MTU
    port_security_enabled: bool = True


class DeleteNetwork(Command):
    network_id: uuid.UUID
    # If-Match: revision_number=N (None: whatever the revision).
    expected_revision: int | None = None
    # The network's DHCP ports (found by the API): they go with the network.
    dhcp_port_ids: list[uuid.UUID] = Field(default_factory=list)


def _admin_only(ctx: Context, flags: dict[str, Any]) -> None:
    for name in ("shared", "external", "segmentation_id"):
        if flags.get(name) and not ctx.is_admin:
            raise Denied(f"rule:create_network:{name}")


@handler(CreateNetwork)
def create_network(
    cmd: CreateNetwork, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    _admin_only(ctx, cmd.model_dump())
    Network.validate(mtu=cmd.mtu, segmentation_id=cmd.segmentation_id)
    network_id = uuid.uuid4()
    network = Network(
        id=network_id,
        project_id=owner_project(cmd.project_id, ctx),
        name=cmd.name,
        description=cmd.description,
        admin_state_up=cmd.admin_state_up,
        shared=cmd.shared,
        external=cmd.external,
        mtu=cmd.mtu,
        port_security_enabled=cmd.port_security_enabled,
        segmentation_id=allocate_vni(uow, network_id, cmd.segmentation_id),
        tags=cmd.tags,
    )
    uow.add(network)
    return {"id": network.id}


@handler(UpdateNetwork)
def update_network(
    cmd: UpdateNetwork, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    network = load(uow, Network, cmd.network_id, "network", ctx)
    changes = changes_of(cmd, "network_id", "expected_revision")
    _admin_only(ctx, {k: v != getattr(network, k) for k, v in changes.items()})
    network.update(cmd.expected_revision, **changes)
    return {"id": network.id}


@handler(DeleteNetwork)
def delete_network(
    cmd: DeleteNetwork, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    network = load(uow, Network, cmd.network_id, "network", ctx)
    check_revision(network.revision_number, cmd.expected_revision)
    for port_id in cmd.dhcp_port_ids:
        port = find(uow, Port, port_id, "port")
        if port.device_owner != DHCP or port.network_id != str(network.id):
            raise InUse(
                f"Unable to complete operation on network {network.id}. "
                "There are one or more ports still in use on the network.",
                "NetworkInUse",
            )
        drop_port(uow, port)
    for subnet_id in list(network.subnets):
        subnet = find(uow, Subnet, subnet_id, "subnet")
        try:
            subnet.delete(uow)
        except InUse as error:
            raise InUse(
                f"Unable to complete operation on network {network.id}. "
                "There are one or more ports still in use on the network.",
                "NetworkInUse",
            ) from error
        network.remove_subnet(subnet_id)
    network.delete()
    release_claim(uow, "vni", str(network.segmentation_id), network.id)
    return {"id": network.id}


class CreateSubnet(Command):
    network_id: uuid.UUID
    project_id: str | None = None
    name: str = ""
    description: str = ""
    cidr: str
    ip_version: int | None = None
    gateway_ip: str | None = ""  # "" chooses the first address, None means none
    allocation_pools: list[dict[str, Any]] | None = None
    dns_nameservers: list[str] = Field(default_factory=list)
    host_routes: list[dict[str, Any]] = Field(default_factory=list)
    enable_dhcp: bool = True
    ipv6_ra_mode: str | None = None
    ipv6_address_mode: str | None = None
    tags: list[str] = Field(default_factory=list)


class UpdateSubnet(Command):
    subnet_id: uuid.UUID
    expected_revision: int | None = None
    name: str = ""
    description: str = ""
    gateway_ip: str | None = None
    allocation_pools: list[dict[str, Any]] = Field(default_factory=list)
    dns_nameservers: list[str] = Field(default_factory=list)
    host_routes: list[dict[str, Any]] = Field(default_factory=list)
    enable_dhcp: bool = True


class DeleteSubnet(Command):
    subnet_id: uuid.UUID
    # If-Match: revision_number=N (None: whatever the revision).
    expected_revision: int | None = None


@handler(CreateSubnet)
def create_subnet(cmd: CreateSubnet, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    network = load(uow, Network, cmd.network_id, "network", ctx)
    if cmd.ip_version not in (None, 4, 6):
        raise Invalid(f"{cmd.ip_version} is not in [4, 6].")
    plan = Subnet.plan(
        cmd.cidr,
        cmd.ip_version,
        cmd.gateway_ip,
        cmd.allocation_pools,
        cmd.dns_nameservers,
        cmd.host_routes,
    )
    ipv6.check_modes(
        plan["ip_version"], plan["cidr"], cmd.ipv6_ra_mode, cmd.ipv6_address_mode, cmd.enable_dhcp
    )
    subnet = Subnet(
        network_id=str(network.id),
        project_id=owner_project(cmd.project_id, ctx),
        name=cmd.name,
        description=cmd.description,
        enable_dhcp=cmd.enable_dhcp,
        ipv6_ra_mode=cmd.ipv6_ra_mode,
        ipv6_address_mode=cmd.ipv6_address_mode,
        tags=cmd.tags,
        **plan,
    )
    subnet.reserve_first_blocks()
    network.add_subnet(str(subnet.id), subnet.cidr)
    uow.add(subnet)
    return {"id": subnet.id}


@handler(UpdateSubnet)
def update_subnet(cmd: UpdateSubnet, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    subnet = load(uow, Subnet, cmd.subnet_id, "subnet", ctx)
    subnet.update(cmd.expected_revision, **changes_of(cmd, "subnet_id", "expected_revision"))
    return {"id": subnet.id}


@handler(DeleteSubnet)
def delete_subnet(cmd: DeleteSubnet, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    subnet = load(uow, Subnet, cmd.subnet_id, "subnet", ctx)
    check_revision(subnet.revision_number, cmd.expected_revision)
    network = find(uow, Network, subnet.network_id, "network")
    subnet.delete(uow)
    network.remove_subnet(str(subnet.id))
    uow.add(network)
    return {"id": subnet.id}
