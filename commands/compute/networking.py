"""A server's ports, created and removed in the server's own transaction.

This is the rule that keeps Strata free of Nova's orphaned ports: the port
aggregates (and the subnet allocations and MAC claims behind them) are saved
with the server and its host claim, or not at all. The network service's own
handler functions do the work, so a server's port is exactly the port
`POST /v2.0/ports` would have made.
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict

from commands.bus import Dependencies
from commands.context import Context
from commands.network.addresses import FixedIp
from commands.network.ports import CreatePort, create_port, drop_port
from commands.unit_of_work import UnitOfWork
from domain.errors import InvalidInput
from domain.network.errors import NeutronNotFound
from domain.network.floatingips import FloatingIp
from domain.network.networks import Network
from domain.network.ports import Port


class NetworkRequest(BaseModel):
    """One entry of a server's `networks`: a network (maybe with an address) or a port."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    network_id: uuid.UUID | None = None
    port_id: uuid.UUID | None = None
    fixed_ip: str | None = None
    tag: str | None = None


def check_requests(uow: UnitOfWork, ctx: Context, requests: list[NetworkRequest]) -> None:
    """Nova's 400s for networks and ports, before anything is created."""
    for request in requests:
        if request.port_id is not None:
            port = uow.get(Port, request.port_id)
            if port is None or (port.project_id != ctx.project_id and not ctx.is_admin):
                raise InvalidInput(f"Port {request.port_id} could not be found.")
            if port.device_id:
                raise InvalidInput(f"Port {request.port_id} is still in use.")
        elif request.network_id is not None:
            network = uow.get(Network, request.network_id)
            if network is None or not network.visible_to(ctx.project_id, ctx.is_admin):
                raise InvalidInput(f"Network {request.network_id} could not be found.")


def plug(
    uow: UnitOfWork,
    ctx: Context,
    deps: Dependencies,
    server_id: uuid.UUID,
    host: str,
    zone: str,
    requests: list[NetworkRequest],
    security_groups: list[uuid.UUID] | None,
) -> list[dict[str, object]]:
    """Create (or take over) the server's ports, bound to its host."""
    ports: list[dict[str, object]] = []
    owner = f"compute:{zone}"
    for request in requests:
        if request.port_id is not None:
            port = uow.get(Port, request.port_id)
            assert port is not None  # checked by check_requests in this transaction
            port.update(device_id=str(server_id), device_owner=owner, binding_host_id=host)
            ports.append({"port_id": str(port.id), "network_id": port.network_id, "created": False})
            continue
        assert request.network_id is not None
        fixed = [FixedIp(ip_address=request.fixed_ip)] if request.fixed_ip else None
        try:
            outcome = create_port(
                CreatePort(
                    network_id=request.network_id,
                    project_id=ctx.project_id,
                    device_id=str(server_id),
                    device_owner=owner,
                    fixed_ips=fixed,
                    security_groups=security_groups,
                ),
                uow,
                ctx,
                deps,
            )
        except NeutronNotFound as error:
            raise InvalidInput(f"Network {request.network_id} could not be found.") from error
        # Created as the user (their project, their policy), then bound to the
        # host the way Nova binds it: with the service's own authority.
        port = uow.get(Port, outcome["id"])
        assert port is not None
        port.update(binding_host_id=host)
        ports.append({"port_id": str(port.id), "network_id": port.network_id, "created": True})
    return ports


def unplug(
    uow: UnitOfWork, ports: list[dict[str, object]], floatingip_ids: list[uuid.UUID]
) -> None:
    """Delete the ports the server created; give back the ones it was handed.

    Floating IPs point at ports and the network service keeps no reverse
    index a command could read, so the API passes the ones it found mapped
    to the server's ports; they lose their mapping in this transaction.
    """
    port_ids = {str(entry["port_id"]) for entry in ports}
    for fip_id in floatingip_ids:
        fip = uow.get(FloatingIp, fip_id)
        if fip is not None and fip.port_id in port_ids:
            fip.associate(None, None, None)
    for entry in ports:
        port = uow.get(Port, uuid.UUID(str(entry["port_id"])))
        if port is None:
            continue
        if entry.get("created"):
            drop_port(uow, port)
        else:
            port.update(device_id="", device_owner="", binding_host_id="")
