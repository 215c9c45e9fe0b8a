"""A router's extra routes (Neutron's `extraroute`): checked, merged, removed.

A route is only useful when the router can reach its nexthop, so Neutron
accepts a nexthop inside one of the router's port subnets and never one of
the router's own addresses (the packet would loop back to it). The router
passes what it is connected to; the checks here are pure.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from domain.network.errors import Invalid

Route = dict[str, str]
# Neutron's default `max_routes` quota: routes per router.
MAX_ROUTES = 30


def _invalid(routes: Any, reason: str) -> Invalid:
    return Invalid(f"Invalid format for routes: {routes}, {reason}.", "InvalidRoutes")


def normalise(routes: Any) -> list[Route]:
    """Well-formed routes with canonical spellings, duplicates merged."""
    if not isinstance(routes, list):
        raise _invalid(routes, "routes must be a list")
    out: list[Route] = []
    for route in routes:
        if not isinstance(route, dict) or set(route) != {"destination", "nexthop"}:
            raise _invalid(routes, "each route needs exactly 'destination' and 'nexthop'")
        try:
            destination = ipaddress.ip_network(str(route["destination"]))
        except ValueError:
            raise _invalid(routes, f"'{route['destination']}' is not a valid CIDR") from None
        try:
            nexthop = ipaddress.ip_address(str(route["nexthop"]))
        except ValueError:
            raise _invalid(routes, f"'{route['nexthop']}' is not a valid IP address") from None
        if destination.version != nexthop.version:
            raise _invalid(routes, "the destination and nexthop IP versions differ")
        entry = {"destination": str(destination), "nexthop": str(nexthop)}
        if entry not in out:
            out.append(entry)
    return out


def check(
    routes: list[Route], connected: Iterable[str], own_ips: Iterable[str], limit: int = MAX_ROUTES
) -> None:
    """Each nexthop inside a `connected` CIDR and none of the router's `own_ips`."""
    if len(routes) > limit:
        raise Invalid(
            f"Unable to complete operation. The number of routes exceeds the maximum {limit}.",
            "RoutesExhausted",
        )
    networks = [ipaddress.ip_network(c) for c in connected]
    mine = {ipaddress.ip_address(ip) for ip in own_ips}
    for route in routes:
        nexthop = ipaddress.ip_address(route["nexthop"])
        if not any(nexthop.version == n.version and nexthop in n for n in networks):
            raise _invalid(routes, "the nexthop is not connected with router")
        if nexthop in mine:
            raise _invalid(routes, "the nexthop is used by router")


def added(old: list[Route], more: list[Route]) -> list[Route]:
    """`old` plus `more`; an exact duplicate is kept once (as Neutron merges)."""
    return old + [r for r in more if r not in old]


def removed(old: list[Route], gone: list[Route]) -> list[Route]:
    """`old` without `gone`; removing a route that is not there is no error."""
    return [r for r in old if r not in gone]


def using(routes: list[Route], cidr: str) -> list[Route]:
    """The routes whose nexthop lies in `cidr` (they need that interface)."""
    network = ipaddress.ip_network(cidr)
    return [
        r
        for r in routes
        if (hop := ipaddress.ip_address(r["nexthop"])).version == network.version and hop in network
    ]
