"""The image aggregate: Glance's status machine, its sharing and its data facts.

Status: queued → saving → active (upload finished) or back to queued (upload
interrupted) or killed (the data could not be kept); active ⇄ deactivated;
any → deleted. The bytes themselves live outside the log (infra/image_store);
the aggregate records only what they were (size, checksums) once they are safe.
"""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.base import Resource
from domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from domain.image import rules
from domain.image.policy import Actor, ImageNotFound, check_publicize

# Actor and ImageNotFound are part of this module's interface (commands use them).
__all__ = ["Actor", "Image", "ImageNotFound"]


class Image(Resource):
    class Created(Aggregate.Created):
        class_version = 1
        owner: str
        name: str | None
        visibility: str
        protected: bool
        os_hidden: bool
        disk_format: str | None
        container_format: str | None
        min_disk: int
        min_ram: int
        tags: list[str]
        properties: dict[str, str]

    @event(Created)
    def __init__(
        self,
        owner: str,
        name: str | None,
        visibility: str,
        protected: bool,
        os_hidden: bool,
        disk_format: str | None,
        container_format: str | None,
        min_disk: int,
        min_ram: int,
        tags: list[str],
        properties: dict[str, str],
    ) -> None:
        self.owner = owner
        self.name = name
        self.visibility = visibility
        self.protected = protected
        self.os_hidden = os_hidden
        self.disk_format = disk_format
        self.container_format = container_format
        self.min_disk = min_disk
        self.min_ram = min_ram
        self.tags = tags
        self.properties = properties
        self.status = "queued"
        self.size: int | None = None
        self.virtual_size: int | None = None
        self.checksum: str | None = None
        self.os_hash_algo: str | None = None
        self.os_hash_value: str | None = None
        self.members: dict[str, str] = {}

    @classmethod
    def create(cls, actor: Actor, image_id: uuid.UUID | None, **values: Any) -> Image:
        """A new queued image, after Glance's checks on what the client sent."""
        rules.check_core(values)
        rules.check_properties(values["properties"])
        values["tags"] = rules.check_tags(values["tags"])
        check_publicize(actor, values["visibility"])
        if values.get("owner") != actor.project_id and not actor.is_admin:
            raise Forbidden("You are not permitted to create images owned by another project.")
        if image_id is not None:
            return cls._create(cls.Created, id=image_id, **values)
        return cls(**values)

    # -- who sees and who changes ---------------------------------------------
    def visible_to(self, actor: Actor) -> bool:
        if actor.is_admin or self.owner == actor.project_id:
            return True
        if self.visibility in ("public", "community"):
            return True
        return self.visibility == "shared" and actor.project_id in self.members

    def require_visible(self, actor: Actor) -> None:
        if self.deleted or not self.visible_to(actor):
            raise ImageNotFound(self.id)

    def require_owner(self, actor: Actor, what: str = "modify this image") -> None:
        self.require_visible(actor)
        if not (actor.is_admin or self.owner == actor.project_id):
            raise Forbidden(f"You are not authorized to {what}.")

    # -- attributes --------------------------------------------------------------
    def update(self, actor: Actor, **changes: Any) -> dict[str, Any]:
        self.require_owner(actor)
        core = {k: v for k, v in changes.items() if k != "properties"}
        rules.check_core(core)
        if "tags" in core:
            core["tags"] = rules.check_tags(core["tags"])
        if "properties" in changes:
            rules.check_properties(changes["properties"])
        if changes.get("visibility", self.visibility) != self.visibility:
            check_publicize(actor, changes["visibility"])
        if "owner" in changes and changes["owner"] != self.owner and not actor.is_admin:
            raise Forbidden("Owner can be changed by an administrator only.")
        if self.status != "queued" and any(
            changes.get(k, getattr(self, k)) != getattr(self, k)
            for k in ("disk_format", "container_format")
        ):
            raise Forbidden(
                "Attribute container_format and disk_format can be only replaced "
                "for a queued image."
            )
        return self._apply_changes(changes)

    def add_tag(self, actor: Actor, tag: str) -> None:
        self.require_owner(actor)
        if tag not in self.tags:
            self.update(actor, tags=[*self.tags, rules.check_tag(tag)])

    def remove_tag(self, actor: Actor, tag: str) -> None:
        self.require_owner(actor)
        if tag not in self.tags:
            raise NotFound("tag", tag)
        self.update(actor, tags=[t for t in self.tags if t != tag])

    def delete_by(self, actor: Actor) -> None:
        self.require_owner(actor, "delete this image")
        if self.protected:
            raise Forbidden(f"Image {self.id} is protected and cannot be deleted.")
        self.delete()

    # -- data ---------------------------------------------------------------------
    class UploadStarted(Aggregate.Event):
        class_version = 1

    class UploadFinished(Aggregate.Event):
        class_version = 1
        size: int
        virtual_size: int | None
        checksum: str
        os_hash_algo: str
        os_hash_value: str

    class UploadFailed(Aggregate.Event):
        class_version = 1
        reason: str
        status: str

    def start_upload(self, actor: Actor) -> None:
        self.require_owner(actor, "upload data to this image")
        if self.status != "queued":
            raise Conflict(f"Image status transition from {self.status} to saving is not allowed")
        if self.disk_format is None or self.container_format is None:
            raise InvalidInput(
                "Properties disk_format, container_format must be set prior to saving data."
            )
        self._start_upload()

    @event(UploadStarted)
    def _start_upload(self) -> None:
        self.status = "saving"

    def finish_upload(
        self,
        size: int,
        virtual_size: int | None,
        checksum: str,
        os_hash_algo: str,
        os_hash_value: str,
    ) -> None:
        self.require_alive()
        if self.status != "saving":
            raise Conflict(f"Image status transition from {self.status} to active is not allowed")
        self._finish_upload(size, virtual_size, checksum, os_hash_algo, os_hash_value)

    @event(UploadFinished)
    def _finish_upload(
        self,
        size: int,
        virtual_size: int | None,
        checksum: str,
        os_hash_algo: str,
        os_hash_value: str,
    ) -> None:
        self.status = "active"
        self.size = size
        self.virtual_size = virtual_size
        self.checksum = checksum
        self.os_hash_algo = os_hash_algo
        self.os_hash_value = os_hash_value

    def fail_upload(self, reason: str, kill: bool = False) -> bool:
        """Undo a started upload: back to queued, so the client may try again
        (Glance's restore), or killed when the data is lost for good."""
        if self.deleted or self.status != "saving":
            return False
        self._fail_upload(reason, "killed" if kill else "queued")
        return True

    @event(UploadFailed)
    def _fail_upload(self, reason: str, status: str) -> None:
        self.status = status

    def begin_snapshot_upload(self) -> bool:
        """A compute agent starts writing a server snapshot's data (queued →
        saving). An agent restarted mid-write finds it saving and writes it
        again; any other status means there is no longer anything to write."""
        if self.deleted or self.status not in ("queued", "saving"):
            return False
        if self.status == "queued":
            self._start_upload()
        return True

    def abandon(self, reason: str) -> bool:
        """Give up an image whose data was never going to arrive (a failed
        server snapshot): killed, with the reason kept in the log, then
        deleted as Nova deletes it, so no empty image is left in the list.
        An image that got its data, or is gone already, stays as it is."""
        if self.deleted or self.status not in ("queued", "saving"):
            return False
        self._fail_upload(reason, "killed")
        self.delete()
        return True

    # -- activation -----------------------------------------------------------------
    class Deactivated(Aggregate.Event):
        class_version = 1

    class Reactivated(Aggregate.Event):
        class_version = 1

    def deactivate(self, actor: Actor) -> None:
        self.require_owner(actor, "deactivate this image")
        if self.status == "deactivated":
            return
        if self.status != "active":
            raise Forbidden(f"Not allowed to deactivate image in status '{self.status}'")
        self._deactivate()

    @event(Deactivated)
    def _deactivate(self) -> None:
        self.status = "deactivated"

    def reactivate(self, actor: Actor) -> None:
        self.require_owner(actor, "reactivate this image")
        if self.status == "active":
            return
        if self.status != "deactivated":
            raise Forbidden(f"Not allowed to reactivate image in status '{self.status}'")
        self._reactivate()

    @event(Reactivated)
    def _reactivate(self) -> None:
        self.status = "active"

    # -- members --------------------------------------------------------------------
    class MemberAdded(Aggregate.Event):
        class_version = 1
        member: str

    class MemberStatusChanged(Aggregate.Event):
        class_version = 1
        member: str
        status: str

    class MemberRemoved(Aggregate.Event):
        class_version = 1
        member: str

    def add_member(self, actor: Actor, member: str) -> None:
        self.require_owner(actor, "add members to this image")
        if self.visibility != "shared":
            raise Forbidden("Only shared images have members.")
        if not member or len(member) > rules.MAX_LENGTH:
            raise InvalidInput("The member must be a project id.")
        if member in self.members:
            raise Conflict(
                f"The target member {member} is already associated with image {self.id}."
            )
        self._add_member(member)

    @event(MemberAdded)
    def _add_member(self, member: str) -> None:
        self.members[member] = "pending"

    def set_member_status(self, actor: Actor, member: str, status: str) -> None:
        self.require_visible(actor)
        if member not in self.members:
            raise NotFound("member", member)
        if actor.project_id != member and not actor.is_admin:
            raise Forbidden("Only the member may accept or reject a shared image.")
        if status not in rules.MEMBER_STATUSES:
            raise InvalidInput(f"Status must be one of {list(rules.MEMBER_STATUSES)}.")
        if self.members[member] != status:
            self._set_member_status(member, status)

    @event(MemberStatusChanged)
    def _set_member_status(self, member: str, status: str) -> None:
        self.members[member] = status

    def remove_member(self, actor: Actor, member: str) -> None:
        self.require_owner(actor, "remove members of this image")
        if member not in self.members:
            raise NotFound("member", member)
        self._remove_member(member)

    @event(MemberRemoved)
    def _remove_member(self, member: str) -> None:
        del self.members[member]
