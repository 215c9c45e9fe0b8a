"""A router's extra routes (Neutron's extraroute) in its namespace.

The agent owns exactly the routes it installs with `proto static` in the
main table: it adds the missing ones, fixes their nexthops and deletes any
other static route, so a route removed through the API disappears here on
the next pass. Several routes to one destination become one ECMP route, as
the kernel keeps a single route per destination and metric.
"""

from __future__ import annotations

import ipaddress

from infra.net.links import AF_INET, AF_INET6, Links
from workers.network.context import Pass
from workers.network.desired import RouterSpec


def wanted_routes(router: RouterSpec) -> dict[str, set[str]]:
    """Destination -> nexthops; a default route is the gateway's, never an extra one."""
    wanted: dict[str, set[str]] = {}
    for route in router.routes:
        destination = str(ipaddress.ip_network(route.destination))
        if ipaddress.ip_network(destination).prefixlen == 0:
            continue
        wanted.setdefault(destination, set()).add(str(ipaddress.ip_address(route.nexthop)))
    return wanted


def converge(run: Pass, links: Links, ns: str, router: RouterSpec) -> None:
    wanted = wanted_routes(router)
    if any(ipaddress.ip_network(r.destination).prefixlen == 0 for r in router.routes):
        run.report.warn(f"router {router.id}: a default extra route is left to its gateway")
    actual = {**links.static_routes(AF_INET), **links.static_routes(AF_INET6)}
    for destination in sorted(set(actual) - set(wanted)):
        links.del_static_route(destination)
        run.report.changed(f"remove route {destination} in {ns}")
    for destination, nexthops in sorted(wanted.items()):
        if actual.get(destination) != nexthops:
            # The kernel refuses a nexthop off every connected subnet; the
            # error fails this router's pass and is reported with the reason.
            links.replace_static_route(destination, nexthops)
            run.report.changed(f"route {destination} via {','.join(sorted(nexthops))} in {ns}")
