"""Extra routes in a router namespace on the dataplane lab (see test_network_agent).

A "next hop" namespace on network 1 owns 192.168.67.1, which only the
router's extra route leads to: an instance on network 2 reaches it through
the router exactly while the route exists.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tests.integration.test_network_agent import (
    NET1,
    NET2,
    NETWORK1,
    NETWORK2,
    ROUTER,
    SUB1,
    SUB2,
    Lab,
    lab,
    ping,
    port,
    sh,
    spec_for,
)
from workers.network import names
from workers.network.desired import HostRoute, RouterInterfaceSpec, RouterSpec

pytestmark = pytest.mark.root
__all__ = ["lab"]  # the fixture, shared with the other dataplane modules


def _static_routes(ns: str) -> list[dict[str, object]]:
    out = sh("ip", "-n", ns, "-j", "route", "show", "proto", "static").stdout
    routes: list[dict[str, object]] = json.loads(out)
    return routes


def test_extra_route_is_installed_followed_and_removed(lab: Lab) -> None:
    hop = port("c5c50000-0000-4000-8000-000000000005", NET1, SUB1, "10.10.0.5", "host-a")
    far = port("c6c60000-0000-4000-8000-000000000006", NET1, SUB1, "10.10.0.6", "host-a")
    vm = port("c7c70000-0000-4000-8000-000000000007", NET2, SUB2, "10.20.0.7", "host-a")
    router = RouterSpec(
        ROUTER,
        interfaces=(
            RouterInterfaceSpec("e1e10000-0000-4000-8000-0000000000e1", SUB1, "10.10.0.1"),
            RouterInterfaceSpec("e2e20000-0000-4000-8000-0000000000e2", SUB2, "10.20.0.1"),
        ),
        routes=(HostRoute("192.168.67.0/24", "10.10.0.5"),),
    )
    spec = spec_for(
        "host-a", networks=(NETWORK1, NETWORK2), ports=(hop, far, vm), routers=(router,)
    )
    lab.converge("a", spec)
    hop_ns = lab.instance("a", hop, "10.10.0.5/24", "10.10.0.1")
    far_ns = lab.instance("a", far, "10.10.0.6/24", "10.10.0.1")
    vm_ns = lab.instance("a", vm, "10.20.0.7/24", "10.20.0.1")
    sh("ip", "-n", hop_ns, "addr", "add", "192.168.67.1/32", "dev", "lo")
    sh("ip", "-n", far_ns, "addr", "add", "192.168.67.1/32", "dev", "lo")
    lab.converge("a", spec)
    router_ns = names.router_namespace(f"{lab.prefix}-a-", ROUTER)

    (route,) = _static_routes(router_ns)
    assert (route["dst"], route["gateway"]) == ("192.168.67.0/24", "10.10.0.5")
    assert ping(vm_ns, "192.168.67.1")
    assert lab.converge("a", spec) == 0

    # A changed nexthop moves the route (both hops own the address).
    moved = replace(router, routes=(HostRoute("192.168.67.0/24", "10.10.0.6"),))
    assert lab.converge("a", replace(spec, routers=(moved,))) > 0
    (route,) = _static_routes(router_ns)
    assert route["gateway"] == "10.10.0.6"
    assert ping(vm_ns, "192.168.67.1")

    # Two nexthops for one destination: one ECMP route.
    both = replace(router, routes=(*router.routes, *moved.routes))
    assert lab.converge("a", replace(spec, routers=(both,))) > 0
    (route,) = _static_routes(router_ns)
    hops = sorted(str(h["gateway"]) for h in route["nexthops"])  # type: ignore[attr-defined]
    assert hops == ["10.10.0.5", "10.10.0.6"]
    assert lab.converge("a", replace(spec, routers=(both,))) == 0

    # Removed through the API: gone from the namespace, unreachable again.
    assert lab.converge("a", replace(spec, routers=(replace(router, routes=()),))) > 0
    assert _static_routes(router_ns) == []
    assert not ping(vm_ns, "192.168.67.1", count=1)


def test_unreachable_nexthop_fails_the_router_with_a_reason(lab: Lab) -> None:
    router = RouterSpec(
        ROUTER,
        interfaces=(
            RouterInterfaceSpec("e1e10000-0000-4000-8000-0000000000e1", SUB1, "10.10.0.1"),
        ),
        routes=(HostRoute("192.168.68.0/24", "10.99.0.5"),),
    )
    spec = spec_for("host-a", networks=(NETWORK1,), ports=(), routers=(router,))
    report = lab.agents["a"].converge(spec)
    assert ROUTER in report.errors, report.errors
    assert "NetlinkError" in report.errors[ROUTER], report.errors
