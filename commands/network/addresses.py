"""Giving a port its addresses: the subnets decide, in the port's transaction.

The allocations live in the subnets' address blocks (domain/network/blocks.py);
a port's transaction writes only the blocks it takes addresses from (and, in a
big subnet, the subnet itself once per batch of blocks), so concurrent port
creations on one subnet collide only when they pick the same block. Each
automatic allocation starts at a random block.
"""

from __future__ import annotations

import ipaddress
import secrets
import uuid

from commands.network.support import StrictModel
from commands.unit_of_work import UnitOfWork
from domain.network import ipv6
from domain.network.errors import InUse, Invalid
from domain.network.networks import Network
from domain.network.subnets import Subnet


class FixedIp(StrictModel):
    subnet_id: uuid.UUID | None = None
    ip_address: str | None = None


def subnets_of(uow: UnitOfWork, network: Network) -> list[Subnet]:
    found = [uow.get(Subnet, uuid.UUID(s)) for s in network.subnets]
    return [s for s in found if s is not None]


def _subnet_for(uow: UnitOfWork, network: Network, entry: FixedIp) -> Subnet:
    if entry.subnet_id is not None:
        subnet = uow.get(Subnet, entry.subnet_id)
        if subnet is None or subnet.network_id != str(network.id):
            raise Invalid(
                f"Failed to create port on network {network.id}, because fixed_ips "
                f"included invalid subnet {entry.subnet_id}.",
                "InvalidInput",
            )
        return subnet
    try:
        address = ipaddress.ip_address(str(entry.ip_address))
    except ValueError as error:
        raise Invalid(f"'{entry.ip_address}' is not a valid IP address.") from error
    for subnet in subnets_of(uow, network):
        if address in ipaddress.ip_network(subnet.cidr):
            return subnet
    raise Invalid(
        f"IP address {address} is not a valid IP for any of the subnets on network {network.id}.",
        "InvalidIpForNetwork",
    )


def _auto(subnet: Subnet) -> bool:
    return subnet.ip_version == 6 and ipv6.is_auto_address(
        subnet.ipv6_ra_mode, subnet.ipv6_address_mode
    )


def _requested(subnet: Subnet, entry: FixedIp, mac: str | None, gateway: bool) -> str | None:
    """The address to take for an entry; None: any free one.

    On an auto-address subnet the host builds its own address from its MAC,
    so only a router's interface may choose one (Neutron's rule).
    """
    if not _auto(subnet) or gateway:
        return entry.ip_address
    if entry.ip_address is not None:
        raise Invalid(
            f"IPv6 address {entry.ip_address} cannot be directly assigned to a port on "
            f"subnet {subnet.id} since the subnet is configured for automatic addresses."
        )
    return ipv6.eui64(subnet.cidr, mac) if mac else None


def assign(
    uow: UnitOfWork,
    network: Network,
    port_id: uuid.UUID,
    owner: str,
    requested: list[FixedIp] | None,
    gateway: bool = False,
    mac: str | None = None,
) -> list[dict[str, str]]:
    """The port's fixed_ips: what it asked for, or Neutron's defaults: one
    IPv4 address, one from a stateful IPv6 subnet, and the EUI-64 address
    (from `mac`) on every auto-address IPv6 subnet."""
    if requested is not None:
        out = []
        for entry in requested:
            if entry.subnet_id is None and entry.ip_address is None:
                raise Invalid("A fixed IP needs a subnet_id or an ip_address.")
            subnet = _subnet_for(uow, network, entry)
            wanted = _requested(subnet, entry, mac, gateway)
            address = subnet.allocate(uow, str(port_id), owner, wanted, gateway)
            out.append({"subnet_id": str(subnet.id), "ip_address": address})
        return out
    out = []
    subnets = subnets_of(uow, network)
    for version in (4, 6):
        candidates = [s for s in subnets if s.ip_version == version and not (_auto(s) and mac)]
        failure: InUse | None = None
        for subnet in candidates:
            try:
                # A handler may draw random numbers: a retry simply draws again.
                pick = secrets.randbits(32)
                address = subnet.allocate(uow, str(port_id), owner, pick=pick)
            except InUse as error:  # full: Neutron tries the network's next subnet
                failure = error
                continue
            out.append({"subnet_id": str(subnet.id), "ip_address": address})
            break
        else:
            if failure is not None:
                raise failure
    for subnet in subnets:
        if _auto(subnet) and mac:
            address = subnet.allocate(uow, str(port_id), owner, ipv6.eui64(subnet.cidr, mac))
            out.append({"subnet_id": str(subnet.id), "ip_address": address})
    return out


def release(uow: UnitOfWork, port_id: uuid.UUID, fixed_ips: list[dict[str, str]]) -> None:
    for entry in fixed_ips:
        subnet = uow.get(Subnet, uuid.UUID(entry["subnet_id"]))
        if subnet is not None:
            subnet.release(uow, entry["ip_address"], str(port_id))
