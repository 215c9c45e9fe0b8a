"""IPv6 address modes: which combinations Neutron accepts, and SLAAC addresses.

`ipv6_ra_mode` says what the router's advertisements tell hosts (and whether
Neutron's router sends them); `ipv6_address_mode` says how hosts get their
address. On "auto-address" subnets (SLAAC, DHCPv6-stateless) a host builds
its address from the prefix and its MAC (EUI-64), so IPAM must hand out
exactly that address or the anti-spoofing rules would drop its traffic.
"""

from __future__ import annotations

import ipaddress

from domain.network.errors import Invalid

SLAAC = "slaac"
DHCPV6_STATEFUL = "dhcpv6-stateful"
DHCPV6_STATELESS = "dhcpv6-stateless"
MODES = (SLAAC, DHCPV6_STATEFUL, DHCPV6_STATELESS)
AUTO_ADDRESS = (SLAAC, DHCPV6_STATELESS)


def check_modes(
    ip_version: int, cidr: str, ra_mode: str | None, address_mode: str | None, enable_dhcp: bool
) -> None:
    """Neutron's rules for a new subnet's modes (400 InvalidInput otherwise)."""
    for name, mode in (("ipv6_ra_mode", ra_mode), ("ipv6_address_mode", address_mode)):
        if mode is not None and mode not in MODES:
            raise Invalid(f"'{mode}' is not in {list(MODES)}.")
        if mode is not None and ip_version == 4:
            raise Invalid(f"{name} is not valid when ip_version is 4.")
    if ra_mode is None and address_mode is None:
        return
    if not enable_dhcp:
        raise Invalid("ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is False.")
    if ra_mode is not None and address_mode is not None and ra_mode != address_mode:
        raise Invalid(
            f"ipv6_ra_mode set to '{ra_mode}' with ipv6_address_mode set to "
            f"'{address_mode}' is not valid. If both attributes are set, they must be "
            "the same value."
        )
    if is_auto_address(ra_mode, address_mode) and ipaddress.ip_network(cidr).prefixlen != 64:
        raise Invalid(
            f"Invalid CIDR {cidr} for IPv6 address mode. OpenStack uses the EUI-64 "
            "address format, which requires the prefix to be /64."
        )


def is_auto_address(ra_mode: str | None, address_mode: str | None) -> bool:
    """Hosts make their own address (from the address mode, else the RA mode)."""
    return (address_mode or ra_mode) in AUTO_ADDRESS


def eui64(cidr: str, mac: str) -> str:
    """The address a host with `mac` builds in the /64 `cidr` (RFC 4291 appendix A)."""
    octets = [int(part, 16) for part in mac.split(":")]
    octets[0] ^= 0x02  # the universal/local bit is inverted in the interface id
    interface_id = bytes([*octets[:3], 0xFF, 0xFE, *octets[3:]])
    network = ipaddress.IPv6Network(cidr)
    return str(network.network_address + int.from_bytes(interface_id, "big"))
