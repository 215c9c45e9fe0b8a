"""The image aggregate on its own: status machine, policy, members, tags."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from domain.image.images import Actor, Image, ImageNotFound

OWNER = Actor("p-owner")
OTHER = Actor("p-other")
ADMIN = Actor("p-admin", is_admin=True)


def new_image(actor: Actor = OWNER, **overrides: Any) -> Image:
    values: dict[str, Any] = {
        "owner": actor.project_id,
        "name": "cirros",
        "visibility": "shared",
        "protected": False,
        "os_hidden": False,
        "disk_format": "qcow2",
        "container_format": "bare",
        "min_disk": 0,
        "min_ram": 0,
        "tags": [],
        "properties": {},
    }
    values.update(overrides)
    return Image.create(actor, overrides.pop("image_id", None), **values)


def finish(image: Image) -> None:
    image.finish_upload(3, 3, "md5", "sha512", "sha")


def test_a_new_image_is_queued_and_keeps_the_given_id() -> None:
    wanted = uuid.uuid4()
    image = Image.create(
        OWNER,
        wanted,
        owner="p-owner",
        name=None,
        visibility="private",
        protected=False,
        os_hidden=False,
        disk_format=None,
        container_format=None,
        min_disk=0,
        min_ram=0,
        tags=["a", "a", "b"],
        properties={"os_distro": "debian"},
    )
    assert image.id == wanted
    assert image.status == "queued"
    assert image.tags == ["a", "b"]
    assert image.size is None and image.checksum is None


def test_upload_goes_queued_saving_active() -> None:
    image = new_image()
    image.start_upload(OWNER)
    assert image.status == "saving"
    image.finish_upload(10, None, "c", "sha512", "h")
    assert (image.status, image.size, image.checksum, image.os_hash_value) == (
        "active",
        10,
        "c",
        "h",
    )
    names = [type(e).__name__ for e in image.collect_events()]
    assert names == ["Created", "UploadStarted", "UploadFinished"]


def test_a_failed_upload_goes_back_to_queued_or_is_killed() -> None:
    image = new_image()
    image.start_upload(OWNER)
    assert image.fail_upload("client went away")
    assert image.status == "queued"
    image.start_upload(OWNER)
    assert image.fail_upload("disk lost", kill=True)
    assert image.status == "killed"
    assert not image.fail_upload("again")  # nothing to undo any more


@pytest.mark.parametrize("status", ["saving", "active", "deactivated"])
def test_upload_only_into_a_queued_image(status: str) -> None:
    image = new_image()
    image.start_upload(OWNER)
    if status != "saving":
        finish(image)
    if status == "deactivated":
        image.deactivate(OWNER)
    with pytest.raises(Conflict, match=f"from {status} to saving"):
        image.start_upload(OWNER)


def test_upload_needs_both_formats() -> None:
    image = new_image(disk_format=None)
    with pytest.raises(InvalidInput, match="disk_format, container_format"):
        image.start_upload(OWNER)


def test_deactivate_and_reactivate() -> None:
    image = new_image()
    with pytest.raises(Forbidden, match="status 'queued'"):
        image.deactivate(OWNER)
    image.start_upload(OWNER)
    finish(image)
    image.deactivate(OWNER)
    image.deactivate(OWNER)  # a no-op, as in Glance
    assert image.status == "deactivated"
    image.reactivate(OWNER)
    assert image.status == "active"


def test_delete_respects_protected_and_ownership() -> None:
    image = new_image(protected=True)
    with pytest.raises(Forbidden, match="protected"):
        image.delete_by(OWNER)
    image.update(OWNER, protected=False)
    image.update(OWNER, visibility="community")
    with pytest.raises(Forbidden):
        image.delete_by(OTHER)
    image.delete_by(OWNER)
    assert image.deleted
    with pytest.raises(ImageNotFound):
        image.require_visible(OWNER)


def test_visibility_rules() -> None:
    image = new_image(visibility="private")
    assert image.visible_to(OWNER) and image.visible_to(ADMIN)
    assert not image.visible_to(OTHER)
    with pytest.raises(Forbidden, match="publicize_image"):
        image.update(OWNER, visibility="public")
    image.update(ADMIN, visibility="public")
    assert image.visible_to(OTHER)
    with pytest.raises(Forbidden):
        image.update(OTHER, name="mine now")
    with pytest.raises(Forbidden, match="publicize"):
        new_image(visibility="public")


def test_members_need_a_shared_image_and_only_the_member_answers() -> None:
    image = new_image(visibility="private")
    with pytest.raises(Forbidden, match="Only shared images have members"):
        image.add_member(OWNER, "p-other")
    image.update(OWNER, visibility="shared")
    image.add_member(OWNER, "p-other")
    assert image.visible_to(OTHER)  # pending members may see it, not list it
    with pytest.raises(Conflict):
        image.add_member(OWNER, "p-other")
    with pytest.raises(Forbidden, match="Only the member"):
        image.set_member_status(OWNER, "p-other", "accepted")
    with pytest.raises(InvalidInput):
        image.set_member_status(OTHER, "p-other", "maybe")
    image.set_member_status(OTHER, "p-other", "accepted")
    assert image.members == {"p-other": "accepted"}
    with pytest.raises(NotFound):
        image.remove_member(OWNER, "p-nobody")
    image.remove_member(OWNER, "p-other")
    assert not image.visible_to(OTHER)


def test_tags_and_properties() -> None:
    image = new_image()
    image.add_tag(OWNER, "x")
    image.add_tag(OWNER, "x")
    assert image.tags == ["x"]
    with pytest.raises(NotFound):
        image.remove_tag(OWNER, "y")
    with pytest.raises(InvalidInput):
        image.add_tag(OWNER, "t" * 256)
    image.update(OWNER, properties={"kernel_id": str(uuid.uuid4())})
    with pytest.raises(InvalidInput, match="UUID"):
        image.update(OWNER, properties={"ramdisk_id": "not-a-uuid"})
    with pytest.raises(InvalidInput):
        image.update(OWNER, properties={"n": 5})
    with pytest.raises(Forbidden, match="reserved"):
        image.update(OWNER, properties={"deleted": "yes"})


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"disk_format": "floppy"}, InvalidInput),
        ({"container_format": "zip"}, InvalidInput),
        ({"visibility": "secret"}, InvalidInput),
        ({"min_ram": -1}, InvalidInput),
        ({"min_disk": "5"}, InvalidInput),
        ({"protected": "yes"}, InvalidInput),
        ({"name": "n" * 256}, InvalidInput),
        ({"owner": "p-other"}, Forbidden),
    ],
)
def test_bad_attribute_values(changes: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        new_image().update(OWNER, **changes)


def test_formats_are_fixed_once_data_arrived() -> None:
    image = new_image()
    image.start_upload(OWNER)
    finish(image)
    with pytest.raises(Forbidden, match="queued"):
        image.update(OWNER, disk_format="raw")
    image.update(OWNER, name="still fine")
