"""openstacksdk's compute proxy against a running Strata: microversion
negotiation, flavors, key pairs, servers with pagination and waits, limits,
quotas and hypervisors (the agent's reports played by the test)."""

from __future__ import annotations

import pytest
from openstack import exceptions

from tests.e2e.cloud import RunningCloud
from tests.e2e.test_compute_agent_stub import HOST, register_host, report
from tests.e2e.test_identity_sdk import connect

pytestmark = pytest.mark.e2e


def test_sdk_compute(cloud: RunningCloud) -> None:
    register_host(cloud)
    conn = connect(cloud)
    endpoint = conn.compute.get_endpoint_data()
    assert endpoint is not None and endpoint.max_microversion == (2, 60)
    flavor = conn.compute.create_flavor(
        name="sdk.tiny", vcpus=1, ram=128, disk=0, description="for sdk tests"
    )
    found = conn.compute.find_flavor("sdk.tiny")
    assert found is not None and found.id == flavor.id
    assert conn.compute.get_flavor(flavor.id).description == "for sdk tests"
    keypair = conn.compute.create_keypair(name="sdk-key")
    assert keypair.private_key and conn.compute.get_keypair("sdk-key").fingerprint
    image = conn.image.create_image(
        name="sdk-image", data=b"\0" * 1024, disk_format="raw", container_format="bare"
    )
    servers = [
        conn.compute.create_server(
            name=f"sdk-{i}",
            flavor_id=flavor.id,
            image_id=image.id,
            networks="none",
            key_name="sdk-key",
            tags=["sdk"],
        )
        for i in range(3)
    ]
    report(cloud, servers[0].id, "active")
    active = conn.compute.wait_for_server(servers[0], status="ACTIVE", wait=30)
    assert active.launched_at and active.key_name == "sdk-key"
    assert active.flavor.original_name == "sdk.tiny" and active.tags == ["sdk"]
    paged = list(conn.compute.servers(details=True, limit=2))
    assert sorted(s.id for s in paged) == sorted(s.id for s in servers)
    assert [s.name for s in conn.compute.servers(name="sdk-2")] == ["sdk-2"]
    limits = conn.compute.get_limits().absolute
    assert limits.instances == 10 and limits.instances_used == 3
    quota = conn.compute.get_quota_set(str(conn.current_project_id))
    assert quota.instances == 10
    hypervisors = list(conn.compute.hypervisors(details=True))
    assert [h.name for h in hypervisors] == [HOST] and hypervisors[0].vcpus == 8
    zones = [z.name for z in conn.compute.availability_zones()]
    assert zones == ["nova"]
    with pytest.raises(exceptions.ConflictException):
        conn.compute.start_server(servers[1])  # still building
    conn.compute.stop_server(servers[0])
    report(cloud, servers[0].id, "stopped")
    conn.compute.wait_for_server(servers[0], status="SHUTOFF", wait=30)
    actions = list(conn.compute.server_actions(servers[0]))
    assert sorted(a.action for a in actions) == ["create", "stop"]
    for server in servers:
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, wait=30)
    with pytest.raises(exceptions.NotFoundException):
        conn.compute.get_server(servers[0].id)
