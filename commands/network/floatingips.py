"""Floating IPs: an external address, and the port it is translated to.

Which router serves the translation is a lookup over read models, so the API
names it and the handler checks it against the router aggregate itself.
"""

from __future__ import annotations

import ipaddress
import uuid

from pydantic import Field

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.network.addresses import FixedIp, assign, release
from commands.network.support import find, load, owner_project
from commands.unit_of_work import UnitOfWork
from domain.network.errors import Invalid, NeutronNotFound, check_revision
from domain.network.floatingips import FloatingIp
from domain.network.networks import Network
from domain.network.ports import FLOATING_IP, Port
from domain.network.routers import Router


class CreateFloatingIp(Command):
    floating_network_id: uuid.UUID
    project_id: str | None = None
    floating_ip_address: str | None = None
    subnet_id: uuid.UUID | None = None
    port_id: uuid.UUID | None = None
    fixed_ip_address: str | None = None
    router_id: uuid.UUID | None = None
    description: str = ""
    tags: list[str] = Field(default_factory=list)


class UpdateFloatingIp(Command):
    floatingip_id: uuid.UUID
    expected_revision: int | None = None
    port_id: uuid.UUID | None = None
    fixed_ip_address: str | None = None
    router_id: uuid.UUID | None = None
    description: str | None = None


class DeleteFloatingIp(Command):
    floatingip_id: uuid.UUID
    # If-Match: revision_number=N (None: whatever the revision).
    expected_revision: int | None = None


def _target(
    uow: UnitOfWork,
    ctx: Context,
    fip_network: str,
    port_id: uuid.UUID,
    fixed_ip: str | None,
    router_id: uuid.UUID | None,
) -> tuple[str, str, str]:
    """(port, fixed address, router) for a mapping, checked against the aggregates."""
    port = load(uow, Port, port_id, "port", ctx)
    candidates = [e for e in port.fixed_ips if ipaddress.ip_address(e["ip_address"]).version == 4]
    if fixed_ip is not None:
        candidates = [e for e in candidates if e["ip_address"] == fixed_ip]
    if not candidates:
        raise Invalid(
            f"Bad floatingip request: Port {port.id} does not have fixed ip {fixed_ip or '(IPv4)'}.",
            "BadRequest",
        )
    entry = candidates[0]
    router = uow.get(Router, router_id) if router_id is not None else None
    if (
        router is None
        or router.gateway is None
        or router.gateway["network_id"] != fip_network
        or entry["subnet_id"] not in router.interfaces.values()
    ):
        raise NeutronNotFound(
            "external gateway for floating IP",
            f"on network {fip_network} reachable from subnet {entry['subnet_id']}",
            "ExternalGatewayForFloatingIPNotFound",
        )
    return str(port.id), entry["ip_address"], str(router.id)


@handler(CreateFloatingIp)
def create_floatingip(
    cmd: CreateFloatingIp, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    network = find(uow, Network, cmd.floating_network_id, "network")
    if not network.external:
        raise Invalid(
            f"Bad floatingip request: Network {network.id} is not a valid external network.",
            "BadRequest",
        )
    fip_id = uuid.uuid4()
    wanted = None
    if cmd.floating_ip_address is not None or cmd.subnet_id is not None:
        wanted = [FixedIp(subnet_id=cmd.subnet_id, ip_address=cmd.floating_ip_address)]
    addresses = [
        e for e in assign(uow, network, fip_id, FLOATING_IP, wanted) if ":" not in e["ip_address"]
    ]
    if not addresses:
        raise Invalid(
            f"Bad floatingip request: No IPv4 subnet on network {network.id}.", "BadRequest"
        )
    fip = FloatingIp(
        id=fip_id,
        project_id=owner_project(cmd.project_id, ctx),
        floating_network_id=str(network.id),
        subnet_id=addresses[0]["subnet_id"],
        floating_ip_address=addresses[0]["ip_address"],
        description=cmd.description,
        tags=cmd.tags,
    )
    uow.add(fip)
    if cmd.port_id is not None:
        fip.associate(
            *_target(uow, ctx, str(network.id), cmd.port_id, cmd.fixed_ip_address, cmd.router_id)
        )
    return {"id": fip.id}


@handler(UpdateFloatingIp)
def update_floatingip(
    cmd: UpdateFloatingIp, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    fip = load(uow, FloatingIp, cmd.floatingip_id, "floating ip", ctx)
    if cmd.description is not None:
        fip.update(cmd.expected_revision, description=cmd.description)
    if "port_id" in cmd.model_fields_set:
        if cmd.port_id is None:
            fip.associate(None, None, None, cmd.expected_revision)
        else:
            target = _target(
                uow, ctx, fip.floating_network_id, cmd.port_id, cmd.fixed_ip_address, cmd.router_id
            )
            fip.associate(*target, expected_revision=cmd.expected_revision)
    return {"id": fip.id}


@handler(DeleteFloatingIp)
def delete_floatingip(
    cmd: DeleteFloatingIp, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    fip = load(uow, FloatingIp, cmd.floatingip_id, "floating ip", ctx)
    check_revision(fip.revision_number, cmd.expected_revision)
    release(uow, fip.id, [{"subnet_id": fip.subnet_id, "ip_address": fip.floating_ip_address}])
    fip.delete()
    return {"id": fip.id}
