"""Ports: addresses, MAC, security groups, in one transaction with the address blocks."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.network.addresses import FixedIp, assign, release
from commands.network.support import (
    changes_of,
    claim_mac,
    find,
    load,
    owner_project,
    release_claim,
)
from commands.unit_of_work import UnitOfWork
from domain.network.errors import Denied, InUse, NeutronNotFound, check_revision
from domain.network.floatingips import FloatingIp
from domain.network.networks import Network
from domain.network.ports import ROUTER_GATEWAY, ROUTER_INTERFACE, Port
from domain.network.security_groups import SecurityGroup, default_group_id


class CreatePort(Command):
    network_id: uuid.UUID
    project_id: str | None = None
    name: str = ""
    description: str = ""
    admin_state_up: bool = True
    mac_address: str | None = None
    fixed_ips: list[FixedIp] | None = None
    device_id: str = ""
    device_owner: str = ""
    security_groups: list[uuid.UUID] | None = None
    allowed_address_pairs: list[dict[str, Any]] = Field(default_factory=list)
    port_security_enabled: bool | None = None
    binding_host_id: str = ""
    tags: list[str] = Field(default_factory=list)


class UpdatePort(Command):
    port_id: uuid.UUID
    expected_revision: int | None = None
    name: str = ""
    description: str = ""
    admin_state_up: bool = True
    fixed_ips: list[FixedIp] = Field(default_factory=list)
    device_id: str = ""
    device_owner: str = ""
    security_groups: list[uuid.UUID] = Field(default_factory=list)
    allowed_address_pairs: list[dict[str, Any]] = Field(default_factory=list)
    port_security_enabled: bool = True
    binding_host_id: str = ""


class DeletePort(Command):
    port_id: uuid.UUID
    # Floating IPs mapped to the port (found by the API) lose their mapping.
    floatingip_ids: list[uuid.UUID] = Field(default_factory=list)
    # Router ports go only with their router interface, unless said otherwise.
    force: bool = False
    # If-Match: revision_number=N (None: whatever the revision).
    expected_revision: int | None = None


def ensure_default_group(uow: UnitOfWork, project_id: str) -> SecurityGroup:
    """The project's `default` group, created on first use (a deterministic id
    makes two first uses collide in the database instead of making two)."""
    group = uow.get(SecurityGroup, default_group_id(project_id))
    if group is None:
        group = SecurityGroup.default_for(project_id)
        uow.add(group)
    return group


def _groups(uow: UnitOfWork, ids: list[uuid.UUID], project_id: str, ctx: Context) -> list[str]:
    out = []
    for group_id in ids:
        group = find(uow, SecurityGroup, group_id, "security group")
        if group.project_id != project_id and not ctx.is_admin:
            raise NeutronNotFound("security group", group_id)
        out.append(str(group.id))
    return sorted(set(out))


def _binding_by_admin(ctx: Context, host: str | None) -> None:
    # Where a port is wired is the deployer's business (Nova, agents), as in Neutron.
    if host and not ctx.is_admin:
        raise Denied("rule:create_port:binding:host_id")


@handler(CreatePort)
def create_port(cmd: CreatePort, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    _binding_by_admin(ctx, cmd.binding_host_id)
    network = find(uow, Network, cmd.network_id, "network")
    if not network.visible_to(ctx.project_id, ctx.is_admin):
        raise NeutronNotFound("network", cmd.network_id)
    project_id = owner_project(cmd.project_id, ctx)
    port_id = uuid.uuid4()
    security = (
        network.port_security_enabled
        if cmd.port_security_enabled is None
        else cmd.port_security_enabled
    )
    pairs = Port.check_address_pairs(cmd.allowed_address_pairs)
    if cmd.security_groups is not None:
        groups = _groups(uow, cmd.security_groups, project_id, ctx)
    elif security and not cmd.device_owner.startswith("network:"):
        groups = [str(ensure_default_group(uow, project_id).id)]
    else:
        groups = []
    Port.check_security(security, groups, pairs)
    port = Port(
        id=port_id,
        network_id=str(network.id),
        project_id=project_id,
        name=cmd.name,
        description=cmd.description,
        admin_state_up=cmd.admin_state_up,
        mac_address=(mac := claim_mac(uow, port_id, cmd.mac_address)),
        fixed_ips=assign(uow, network, port_id, cmd.device_owner, cmd.fixed_ips, mac=mac),
        device_id=cmd.device_id,
        device_owner=cmd.device_owner,
        security_groups=groups,
        allowed_address_pairs=pairs,
        port_security_enabled=security,
        binding_host_id=cmd.binding_host_id,
        tags=cmd.tags,
    )
    uow.add(port)
    return {"id": port.id}


@handler(UpdatePort)
def update_port(cmd: UpdatePort, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    port = load(uow, Port, cmd.port_id, "port", ctx)
    if "binding_host_id" in cmd.model_fields_set:
        _binding_by_admin(ctx, cmd.binding_host_id or "unbind")
    changes = changes_of(cmd, "port_id", "expected_revision", "fixed_ips", "security_groups")
    if "allowed_address_pairs" in changes:
        changes["allowed_address_pairs"] = Port.check_address_pairs(
            changes["allowed_address_pairs"]
        )
    if "security_groups" in cmd.model_fields_set:
        changes["security_groups"] = _groups(uow, cmd.security_groups, port.project_id, ctx)
    if "fixed_ips" in cmd.model_fields_set:
        network = find(uow, Network, port.network_id, "network")
        release(uow, port.id, port.fixed_ips)
        gateway = port.device_owner == ROUTER_INTERFACE
        changes["fixed_ips"] = assign(
            uow, network, port.id, port.device_owner, cmd.fixed_ips, gateway, port.mac_address
        )
    port.update(cmd.expected_revision, **changes)
    return {"id": port.id}


@handler(DeletePort)
def delete_port(cmd: DeletePort, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    port = load(uow, Port, cmd.port_id, "port", ctx)
    check_revision(port.revision_number, cmd.expected_revision)
    if port.device_owner in (ROUTER_INTERFACE, ROUTER_GATEWAY) and not cmd.force:
        raise InUse(
            f"Port {port.id} cannot be deleted directly via the port API: "
            f"has device owner {port.device_owner}.",
            "L3PortInUse",
        )
    for fip_id in cmd.floatingip_ids:
        fip = find(uow, FloatingIp, fip_id, "floating ip")
        if fip.port_id == str(port.id):
            fip.associate(None, None, None)
    drop_port(uow, port)
    return {"id": port.id}


def drop_port(uow: UnitOfWork, port: Port) -> None:
    """Delete a port and give back its addresses and MAC, in the caller's uow."""
    release(uow, port.id, port.fixed_ips)
    release_claim(uow, "mac", port.mac_address, port.id)
    port.delete()
    uow.add(port)
