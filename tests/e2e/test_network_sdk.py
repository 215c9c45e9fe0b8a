"""openstacksdk's network proxy against a running Strata: CRUD, lookups,
pagination, tags, errors and policy between projects."""

from __future__ import annotations

import openstack
import pytest
from openstack import exceptions

from tests.e2e.cloud import RunningCloud
from tests.e2e.test_identity_sdk import connect

pytestmark = pytest.mark.e2e


def test_sdk_network_resources(cloud: RunningCloud) -> None:
    conn = connect(cloud)
    net = conn.network.create_network(name="sdk-net", description="d")
    subnet = conn.network.create_subnet(network_id=net.id, cidr="10.40.0.0/24", ip_version=4)
    v6 = conn.network.create_subnet(network_id=net.id, cidr="fd40::/64", ip_version=6)
    assert conn.network.find_network("sdk-net").id == net.id
    assert conn.network.get_network(net.id).subnet_ids and v6.gateway_ip == "fd40::1"
    ports = [conn.network.create_port(network_id=net.id, name=f"sdk-p{i}") for i in range(5)]
    assert len({p.mac_address for p in ports}) == 5
    paged = list(conn.network.ports(network_id=net.id, limit=2))
    assert sorted(p.id for p in paged) == sorted(p.id for p in ports)
    names = [
        p.name for p in conn.network.ports(network_id=net.id, sort_key="name", sort_dir="desc")
    ]
    assert names == [f"sdk-p{i}" for i in reversed(range(5))]
    conn.network.set_tags(net, ["blue", "green"])
    assert [n.id for n in conn.network.networks(tags="blue")] == [net.id]
    updated = conn.network.update_port(ports[0], name="renamed")
    assert updated.name == "renamed" and updated.revision_number == 2
    with pytest.raises(exceptions.ConflictException):
        conn.network.delete_network(net)
    with pytest.raises(exceptions.BadRequestException):
        conn.network.create_subnet(network_id=net.id, cidr="10.40.0.0/16", ip_version=4)
    with pytest.raises(exceptions.NotFoundException):
        conn.network.get_port("00000000-0000-4000-8000-000000000000")
    for port in ports:
        conn.network.delete_port(port)
    conn.network.delete_subnet(subnet)
    conn.network.delete_network(net)
    assert conn.network.find_network("sdk-net") is None


def test_sdk_routers_floating_ips_and_groups(cloud: RunningCloud) -> None:
    conn = connect(cloud)
    public = conn.network.create_network(name="sdk-public", is_router_external=True)
    conn.network.create_subnet(network_id=public.id, cidr="198.18.0.0/24", ip_version=4)
    net = conn.network.create_network(name="sdk-app")
    subnet = conn.network.create_subnet(network_id=net.id, cidr="10.41.0.0/24", ip_version=4)
    router = conn.network.create_router(
        name="sdk-router", external_gateway_info={"network_id": public.id}
    )
    body = conn.network.add_interface_to_router(router, subnet_id=subnet.id)
    assert body["subnet_id"] == subnet.id
    port = conn.network.create_port(network_id=net.id)
    fip = conn.network.create_ip(floating_network_id=public.id)
    fip = conn.network.update_ip(fip, port_id=port.id)
    assert fip.fixed_ip_address == port.fixed_ips[0]["ip_address"]
    assert fip.router_id == router.id
    group = conn.network.create_security_group(name="sdk-ssh")
    rule = conn.network.create_security_group_rule(
        security_group_id=group.id,
        direction="ingress",
        protocol="tcp",
        port_range_min=22,
        port_range_max=22,
        remote_ip_prefix="0.0.0.0/0",
    )
    assert rule.security_group_id == group.id
    assert len(conn.network.get_security_group(group.id).security_group_rules) == 3
    quota = conn.network.get_quota(conn.current_project_id)
    assert quota.networks == 100
    conn.network.update_ip(fip, port_id=None)
    conn.network.delete_ip(fip)
    conn.network.remove_interface_from_router(router, subnet_id=subnet.id)
    conn.network.delete_router(router)
    conn.network.delete_port(port)
    conn.network.delete_network(net)


def test_projects_see_their_own_and_shared(cloud: RunningCloud) -> None:
    admin = connect(cloud)
    project = admin.identity.create_project(name="net-tenant", domain_id="default")
    user = admin.identity.create_user(name="net-carol", password="pw-carol", domain_id="default")
    member = admin.identity.find_role("member")
    admin.identity.assign_project_role_to_user(project, user, member)
    private = admin.network.create_network(name="admin-private")
    shared = admin.network.create_network(name="admin-shared", is_shared=True)
    carol: openstack.connection.Connection = connect(
        cloud, user="net-carol", password="pw-carol", project="net-tenant"
    )
    visible = {n.id for n in carol.network.networks()}
    assert shared.id in visible and private.id not in visible
    with pytest.raises(exceptions.NotFoundException):
        carol.network.update_network(private, name="mine")
    with pytest.raises(exceptions.ForbiddenException):
        carol.network.create_network(name="sneaky", is_shared=True)
    own = carol.network.create_network(name="carol-net")
    assert own.project_id == project.id
    groups = list(carol.network.security_groups())
    assert [g.name for g in groups] == ["default"]
