"""openstacksdk's block storage proxy against a running Strata and its storage
agent: microversion negotiation, volumes with waits and paging, extend,
snapshots, clones, types, quotas, and an error in Cinder's format."""

from __future__ import annotations

import pytest
from openstack import exceptions

from tests.e2e import test_volume_cli
from tests.e2e.cloud import RunningCloud
from tests.e2e.test_identity_sdk import connect

pytestmark = pytest.mark.e2e
cloud = test_volume_cli.cloud  # the same fixture: a strata up with the compute agent off


def test_sdk_block_storage(cloud: RunningCloud) -> None:
    conn = connect(cloud)
    bs = conn.block_storage
    endpoint = bs.get_endpoint_data()
    assert endpoint is not None and endpoint.max_microversion >= (3, 60)
    volumes = [bs.create_volume(size=1, name=f"sdk-{i}", metadata={"i": str(i)}) for i in range(3)]
    for volume in volumes:
        bs.wait_for_status(volume, "available", failures=["error"], interval=0.1, wait=30)
    assert {v.name for v in bs.volumes(limit=2)} == {"sdk-0", "sdk-1", "sdk-2"}  # pages
    found = bs.find_volume("sdk-1")
    assert found is not None and found.metadata == {"i": "1"} and found.is_bootable is False

    bs.extend_volume(volumes[0], 2)
    grown = bs.wait_for_status(bs.get_volume(volumes[0]), "available", interval=0.1, wait=30)
    assert grown.size == 2
    snap = bs.create_snapshot(volume_id=volumes[0].id, name="sdk-snap")
    bs.wait_for_status(snap, "available", failures=["error"], interval=0.1, wait=30)
    child = bs.create_volume(snapshot_id=snap.id, name="sdk-child")
    clone = bs.create_volume(source_volume_id=volumes[1].id, name="sdk-clone", size=4)
    for volume in (child, clone):
        bs.wait_for_status(volume, "available", failures=["error"], interval=0.1, wait=30)
    assert (bs.get_volume(child).size, bs.get_volume(clone).size) == (2, 4)

    with pytest.raises(exceptions.BadRequestException, match="dependent snapshots"):
        bs.delete_volume(volumes[0])
    vtype = bs.create_type(name="sdk-type", extra_specs={"volume_backend_name": "files"})
    assert bs.find_type("sdk-type").extra_specs == {"volume_backend_name": "files"}
    quota = bs.get_quota_set(conn.current_project_id, usage=True)
    assert quota.usage["volumes"] == 5

    bs.delete_snapshot(snap)
    bs.wait_for_delete(snap, interval=0.1, wait=30)
    for volume in (*volumes, child, clone):
        bs.delete_volume(volume)
    for volume in (*volumes, child, clone):
        bs.wait_for_delete(volume, interval=0.1, wait=30)
    bs.delete_type(vtype)
    assert list(bs.volumes()) == []
