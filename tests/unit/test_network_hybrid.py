"""The OVS driver's per-port bridges (workers/network/hybrid.py): names and zones."""

from __future__ import annotations

from workers.network import names, sg_rules
from workers.network.desired import FixedIp, HostSpec, NetworkSpec, PortSpec, SecurityGroupSpec

PORT = "12345678-1234-4234-8234-123456789abc"


def test_plumbing_names_fit_the_kernel_limit_and_are_distinct_per_port() -> None:
    made = [names.hybrid_bridge(PORT), names.hybrid_switch_port(PORT)]
    assert all(len(name) <= 15 for name in made), made
    assert len(set(made)) == 2
    other = "abcdef01-1234-4234-8234-123456789abc"
    assert names.hybrid_bridge(other) != names.hybrid_bridge(PORT)


def test_no_other_strata_name_starts_with_a_plumbing_prefix() -> None:
    # Stale plumbing is found by prefix; a clash would delete another kind of device.
    prefixes = (names.HYBRID_BRIDGE, names.HYBRID_SWITCH_PORT)
    others = [
        names.bridge(PORT),
        names.tap(PORT),
        names.vxlan(1001),
        names.router_interface(PORT),
        names.router_gateway(PORT),
        names.dhcp_device(PORT),
    ]
    assert not [name for name in others if name.startswith(prefixes)]


def _spec(*ports: PortSpec) -> HostSpec:
    return HostSpec(
        "h1", "192.0.2.1", (NetworkSpec("n1", 7),), ports, (), (SecurityGroupSpec("g"),)
    )


def test_each_port_bridge_gets_the_conntrack_zone_of_its_port_number() -> None:
    ports = [
        PortSpec(
            f"p{i}-0000000000",
            "n1",
            f"fa:16:3e:00:00:0{i}",
            (FixedIp("s", f"10.0.0.{i}"),),
            "compute:nova",
            security_group_ids=("g",),
            binding_host="h1",
        )
        for i in (1, 2)
    ]
    unfiltered = PortSpec(
        "p3-0000000000",
        "n1",
        "fa:16:3e:00:00:03",
        (),
        "compute:nova",
        port_security_enabled=False,
        binding_host="h1",
    )
    rendered = sg_rules.render(_spec(*ports, unfiltered), port_bridges=True)
    assert rendered is not None
    zones = dict(
        line.split(" ct zone set ")
        for line in (raw.strip() for raw in rendered[1].splitlines())
        if " ct zone set " in line
    )
    assert zones == {
        f'iifname "{names.hybrid_bridge(p.id)}"': str(number)
        for number, p in enumerate(ports, start=1)
    }
    assert "priority raw" in rendered[1]
    # The Linux bridge driver's tables have no zones: one bridge crossing per packet.
    plain = sg_rules.render(_spec(*ports), port_bridges=False)
    assert plain is not None and "ct zone" not in plain[1]
