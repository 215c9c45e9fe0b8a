"""The volume, snapshot and attachment state machines, with no storage at all."""

from __future__ import annotations

import pytest

from domain.errors import Conflict, InvalidInput
from domain.volume import states as s
from domain.volume.hosts import StorageHosts
from domain.volume.snapshots import Snapshot
from domain.volume.types import VolumeType
from domain.volume.volumes import Volume


def volume(multiattach: bool = False, size: int = 1) -> Volume:
    return Volume(
        project_id="p",
        user_id="u",
        name="v",
        description=None,
        size=size,
        availability_zone="nova",
        volume_type={"id": "t", "name": "__DEFAULT__"},
        metadata={},
        multiattach=multiattach,
        bootable=False,
        source={"kind": "empty"},
        host="h",
    )


def available(**kw: bool) -> Volume:
    v = volume(**kw)
    v.provisioned()
    return v


def test_create_extend_delete_through_the_agents_reports() -> None:
    v = volume()
    assert v.status == s.CREATING
    v.provisioned()
    v.provisioned()  # a repeated report changes nothing
    assert v.status == s.AVAILABLE and len(v.collect_events()) == 2
    v.extend(3)
    assert (v.status, v.size, v.target_size) == (s.EXTENDING, 1, 3)
    v.extended(3)
    assert (v.status, v.size) == (s.AVAILABLE, 3)
    v.request_delete()
    assert v.status == s.DELETING
    v.gone()
    assert v.deleted


def test_failures_keep_their_reason_and_say_what_failed() -> None:
    v = volume()
    v.fail("no space")
    assert (v.status, v.reason) == (s.ERROR, "no space")
    v.request_delete()
    v.fail("busy")
    assert v.status == s.ERROR_DELETING
    w = available()
    w.extend(2)
    w.fail("resize failed")
    assert (w.status, w.size) == (s.ERROR_EXTENDING, 1)


@pytest.mark.parametrize(
    ("action", "error", "words"),
    [
        (lambda v: v.extend(2), Conflict, "current status is: creating"),
        (lambda v: v.request_delete(), Conflict, "current status is: creating"),
        (lambda v: v.reserve("a", "srv"), Conflict, "current status is: creating"),
        (lambda v: v.add_snapshot("s"), Conflict, "current status is: creating"),
        (lambda v: v.reset_status("bogus"), InvalidInput, "not a valid status"),
    ],
)
def test_actions_in_the_wrong_state_name_it(action: object, error: type, words: str) -> None:
    v = volume()
    with pytest.raises(error, match=words):
        action(v)  # type: ignore[operator]
    assert v.status == s.CREATING


def test_extend_must_grow() -> None:
    v = available()
    with pytest.raises(InvalidInput, match="greater than current size"):
        v.extend(1)


def test_snapshots_block_delete_and_freezes_block_attach_and_extend() -> None:
    v = available()
    v.add_snapshot("snap-1")
    with pytest.raises(Conflict, match="being created"):
        v.extend(2)
    with pytest.raises(Conflict, match="being created"):
        v.reserve("a1", "srv")
    v.thaw("snap-1")
    with pytest.raises(InvalidInput, match="dependent snapshots"):
        v.request_delete()
    v.remove_snapshot("snap-1")
    v.request_delete()
    assert v.status == s.DELETING


def test_attachment_lifecycle_derives_the_volume_status() -> None:
    v = available()
    v.reserve("a1", "srv-1")
    assert v.status == s.RESERVED
    v.connect("a1", {"host": "c1", "mountpoint": "/dev/vdb"}, {"driver_volume_type": "file"})
    assert v.status == s.ATTACHING and v.attachments["a1"]["host"] == "c1"
    v.complete("a1")
    v.complete("a1")  # repeated report
    assert v.status == s.IN_USE and v.attachments["a1"]["attached_at"] is not None
    with pytest.raises(Conflict, match="in-use"):
        v.request_delete()
    v.begin_detach("a1")
    assert v.status == s.DETACHING
    v.remove_attachment("a1")
    assert v.status == s.AVAILABLE and v.attachments == {}


def test_only_multiattach_volumes_take_a_second_server() -> None:
    v = available()
    v.reserve("a1", "srv-1")
    with pytest.raises(InvalidInput, match="not multiattach"):
        v.reserve("a2", "srv-2")
    m = available(multiattach=True)
    m.reserve("a1", "srv-1")
    m.reserve("a2", "srv-2")
    with pytest.raises(InvalidInput, match="already attached"):
        m.reserve("a3", "srv-1")
    m.remove_attachment("a1", reason="hot-plug failed")
    assert m.status == s.RESERVED and list(m.attachments) == ["a2"]


def test_events_are_the_volumes_own_classes() -> None:
    """Attachment events declared on the base class must still carry Volume's
    topic, or the read model would never see them."""
    v = available()
    v.reserve("a1", "srv")
    v.connect("a1", {}, {})
    v.begin_detach("a1")
    v.remove_attachment("a1")
    names = [type(e).__qualname__ for e in v.collect_events()]
    assert all(name.startswith("Volume.") for name in names), names


def test_snapshot_and_type_and_host_choice() -> None:
    snap = Snapshot(project_id="p", user_id="u", volume_id="v", name=None, description=None,
                    size=1, metadata={}, host="h")  # fmt: skip
    with pytest.raises(Conflict, match="creating"):
        snap.request_delete()
    snap.became_available()
    snap.request_delete()
    snap.fail("locked")
    assert snap.status == s.SNAP_ERROR_DELETING
    snap.request_delete()
    snap.gone()
    assert snap.deleted
    gold = VolumeType(name="gold", description=None, is_public=True, extra_specs={"a": "1"})
    gold.set_extra_specs({"b": "2"}, remove=["a"])
    assert gold.extra_specs == {"b": "2"}
    hosts = StorageHosts()
    import uuid

    assert hosts.pick(None, uuid.uuid4()) is None
    hosts.register("h1", {"availability_zone": "az1"})
    hosts.register("h2", {"availability_zone": "az2"})
    assert hosts.pick("az2", uuid.uuid4()) == "h2"
    assert hosts.zones() == {"az1", "az2"}
