"""Images as rows: one per live image, plus tags, properties and members in
their own tables so list filters (`tag=`, `os_distro=`, shared-with-me) are
plain indexed lookups. Deleted images leave no row (Glance hides them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.image.images import Image
from infra.database import Cursor
from projections.base import Projection, Table, handles

T, B, N = "TEXT", "BOOLEAN", "BIGINT"

TABLES = (
    Table(
        "images",
        (
            ("id", T),
            ("owner", T),
            ("name", T),
            ("status", T),
            ("visibility", T),
            ("protected", B),
            ("os_hidden", B),
            ("disk_format", T),
            ("container_format", T),
            ("size", N),
            ("virtual_size", N),
            ("checksum", T),
            ("os_hash_algo", T),
            ("os_hash_value", T),
            ("min_disk", N),
            ("min_ram", N),
            ("tags", T),
            ("properties", T),
            ("created_at", T),
            ("updated_at", T),
        ),
        ("id",),
        (("owner",), ("visibility",), ("created_at",), ("name",)),
    ),
    Table("image_tags", (("image_id", T), ("tag", T)), ("image_id", "tag"), (("tag",),)),
    Table(
        "image_properties",
        (("image_id", T), ("name", T), ("value", T)),
        ("image_id", "name"),
        (("name", "value"),),
    ),
    Table(
        "image_members",
        (
            ("image_id", T),
            ("member", T),
            ("status", T),
            ("created_at", T),
            ("updated_at", T),
        ),
        ("image_id", "member"),
        (("member",),),
    ),
)


class ImageProjection(Projection):
    name = "image"
    tables = TABLES

    @handles(Image.Created)
    def _created(self, cur: Cursor, e: Image.Created) -> None:
        image_id = str(e.originator_id)
        self.upsert(
            cur,
            "images",
            {
                "id": image_id,
                "owner": e.owner,
                "name": e.name,
                "status": "queued",
                "visibility": e.visibility,
                "protected": e.protected,
                "os_hidden": e.os_hidden,
                "disk_format": e.disk_format,
                "container_format": e.container_format,
                "size": None,
                "virtual_size": None,
                "checksum": None,
                "os_hash_algo": None,
                "os_hash_value": None,
                "min_disk": e.min_disk,
                "min_ram": e.min_ram,
                "tags": e.tags,
                "properties": e.properties,
                "created_at": e.timestamp,
                "updated_at": e.timestamp,
            },
        )
        self._replace_tags(cur, image_id, e.tags)
        self._replace_properties(cur, image_id, e.properties)

    @handles(Image.Updated)
    def _updated(self, cur: Cursor, e: Image.Updated) -> None:
        image_id = str(e.originator_id)
        self._touch(cur, e, dict(e.changes))
        if "tags" in e.changes:
            self._replace_tags(cur, image_id, e.changes["tags"])
        if "properties" in e.changes:
            self._replace_properties(cur, image_id, e.changes["properties"])

    @handles(Image.UploadStarted)
    def _upload_started(self, cur: Cursor, e: Image.UploadStarted) -> None:
        self._touch(cur, e, {"status": "saving"})

    @handles(Image.UploadFinished)
    def _upload_finished(self, cur: Cursor, e: Image.UploadFinished) -> None:
        self._touch(
            cur,
            e,
            {
                "status": "active",
                "size": e.size,
                "virtual_size": e.virtual_size,
                "checksum": e.checksum,
                "os_hash_algo": e.os_hash_algo,
                "os_hash_value": e.os_hash_value,
            },
        )

    @handles(Image.UploadFailed)
    def _upload_failed(self, cur: Cursor, e: Image.UploadFailed) -> None:
        self._touch(cur, e, {"status": e.status})

    @handles(Image.Deactivated)
    def _deactivated(self, cur: Cursor, e: Image.Deactivated) -> None:
        self._touch(cur, e, {"status": "deactivated"})

    @handles(Image.Reactivated)
    def _reactivated(self, cur: Cursor, e: Image.Reactivated) -> None:
        self._touch(cur, e, {"status": "active"})

    @handles(Image.Deleted)
    def _deleted(self, cur: Cursor, e: Image.Deleted) -> None:
        image_id = str(e.originator_id)
        self.delete(cur, "images", {"id": image_id})
        for table in ("image_tags", "image_properties", "image_members"):
            self.delete(cur, table, {"image_id": image_id})

    @handles(Image.MemberAdded)
    def _member_added(self, cur: Cursor, e: Image.MemberAdded) -> None:
        row = {
            "image_id": str(e.originator_id),
            "member": e.member,
            "status": "pending",
            "created_at": e.timestamp,
            "updated_at": e.timestamp,
        }
        self.upsert(cur, "image_members", row)

    @handles(Image.MemberStatusChanged)
    def _member_changed(self, cur: Cursor, e: Image.MemberStatusChanged) -> None:
        self.update(
            cur,
            "image_members",
            {"status": e.status, "updated_at": e.timestamp},
            {"image_id": str(e.originator_id), "member": e.member},
        )

    @handles(Image.MemberRemoved)
    def _member_removed(self, cur: Cursor, e: Image.MemberRemoved) -> None:
        self.delete(cur, "image_members", {"image_id": str(e.originator_id), "member": e.member})

    # -- helpers ------------------------------------------------------------
    def _touch(self, cur: Cursor, e: Any, changes: dict[str, Any]) -> None:
        changes["updated_at"] = e.timestamp
        self.update(cur, "images", changes, {"id": str(e.originator_id)})

    def _replace_tags(self, cur: Cursor, image_id: str, tags: list[str]) -> None:
        self.delete(cur, "image_tags", {"image_id": image_id})
        for tag in tags:
            self.upsert(cur, "image_tags", {"image_id": image_id, "tag": tag})

    def _replace_properties(self, cur: Cursor, image_id: str, props: Mapping[str, str]) -> None:
        self.delete(cur, "image_properties", {"image_id": image_id})
        for name, value in props.items():
            self.upsert(
                cur, "image_properties", {"image_id": image_id, "name": name, "value": value}
            )
