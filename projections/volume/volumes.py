"""Volumes and their attachments as rows.

A volume's status follows its attachments in the domain (reserved, attaching,
in-use, detaching, available); the rows derive it the same way from the
attachments table, so replaying the log gives the same answer.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from domain.volume import states as s
from domain.volume.volumes import Volume
from infra.database import Cursor
from projections.base import Projection, from_json, handles

VOLUMES, ATTACHMENTS = "volume_volumes", "volume_attachments"
ATTACH_FAMILY = (s.AVAILABLE, s.RESERVED, s.ATTACHING, s.IN_USE, s.DETACHING)


class VolumeRows(Projection):
    def patch(
        self, cur: Cursor, logical: str, ident: str, columns: dict[str, Any], body: dict[str, Any]
    ) -> None:
        """Change some columns and some keys of the JSON body of one row."""
        if body:
            cur.execute(
                sql.SQL("SELECT body FROM {} WHERE id = %s").format(self.table(logical)), [ident]
            )
            row = cur.fetchone()
            if row is None:
                return
            columns = {**columns, "body": {**from_json(row["body"], {}), **body}}
        self.update(cur, logical, columns, {"id": ident})

    def _volume(self, cur: Cursor, e: Any, columns: dict[str, Any], body: dict[str, Any]) -> None:
        self.patch(cur, VOLUMES, str(e.originator_id), {**columns, "updated_at": e.timestamp}, body)

    @handles(Volume.Created)
    def _created(self, cur: Cursor, e: Volume.Created) -> None:
        body: dict[str, Any] = {
            "description": e.description,
            "volume_type": e.volume_type,
            "metadata": e.metadata,
            "multiattach": e.multiattach,
            "source": e.source,
            "reason": None,
            "target_size": e.size,
            "snapshot_ids": [],
            "freezes": [],
        }
        row = {
            "id": str(e.originator_id),
            "project_id": e.project_id,
            "user_id": e.user_id,
            "name": e.name,
            "status": s.CREATING,
            "size": e.size,
            "host": e.host,
            "availability_zone": e.availability_zone,
            "bootable": e.bootable,
            "created_at": e.timestamp,
            "updated_at": e.timestamp,
            "body": body,
        }
        self.upsert(cur, VOLUMES, row)

    @handles(Volume.Updated)
    def _updated(self, cur: Cursor, e: Volume.Updated) -> None:
        changes: dict[str, Any] = dict(e.changes)
        columns: dict[str, Any] = {k: changes.pop(k) for k in ("name", "bootable") if k in changes}
        self._volume(cur, e, columns, changes)

    @handles(Volume.ExtendRequested)
    def _extend(self, cur: Cursor, e: Volume.ExtendRequested) -> None:
        self._volume(cur, e, {"status": s.EXTENDING}, {"target_size": e.new_size})

    @handles(Volume.DeleteRequested)
    def _deleting(self, cur: Cursor, e: Volume.DeleteRequested) -> None:
        self._volume(cur, e, {"status": s.DELETING}, {})

    @handles(Volume.StatusReset)
    def _reset(self, cur: Cursor, e: Volume.StatusReset) -> None:
        self._volume(cur, e, {"status": e.status}, {})

    @handles(Volume.SnapshotsChanged)
    def _snapshots(self, cur: Cursor, e: Volume.SnapshotsChanged) -> None:
        self._volume(cur, e, {}, {"snapshot_ids": e.snapshot_ids})

    @handles(Volume.FreezesChanged)
    def _freezes(self, cur: Cursor, e: Volume.FreezesChanged) -> None:
        self._volume(cur, e, {}, {"freezes": e.freezes})

    @handles(Volume.Provisioned)
    def _provisioned(self, cur: Cursor, e: Volume.Provisioned) -> None:
        self._volume(cur, e, {"status": s.AVAILABLE}, {"reason": None})
        self._rederive(cur, e)  # a boot volume was reserved while being created

    @handles(Volume.Extended)
    def _extended(self, cur: Cursor, e: Volume.Extended) -> None:
        columns = {"status": s.AVAILABLE, "size": e.size}
        self._volume(cur, e, columns, {"reason": None, "target_size": e.size})

    @handles(Volume.Failed)
    def _failed(self, cur: Cursor, e: Volume.Failed) -> None:
        self._volume(cur, e, {"status": e.status}, {"reason": e.reason})

    @handles(Volume.UploadStarted)
    def _uploading(self, cur: Cursor, e: Volume.UploadStarted) -> None:
        upload = {"image_id": e.image_id, "disk_format": e.disk_format}
        self._volume(cur, e, {"status": s.UPLOADING}, {"upload": upload})

    @handles(Volume.UploadEnded)
    def _uploaded(self, cur: Cursor, e: Volume.UploadEnded) -> None:
        body: dict[str, Any] = {"upload": None}
        if e.reason:
            body["reason"] = e.reason
        self._volume(cur, e, {"status": s.AVAILABLE}, body)

    @handles(Volume.Deleted)
    def _deleted(self, cur: Cursor, e: Volume.Deleted) -> None:
        self.delete(cur, ATTACHMENTS, {"volume_id": str(e.originator_id)})
        self.delete(cur, VOLUMES, {"id": str(e.originator_id)})

    # -- attachments ------------------------------------------------------------------
    def _rederive(self, cur: Cursor, e: Any) -> None:
        volume_id = str(e.originator_id)
        cur.execute(
            sql.SQL("SELECT status FROM {} WHERE id = %s").format(self.table(VOLUMES)), [volume_id]
        )
        row = cur.fetchone()
        if row is None or row["status"] not in ATTACH_FAMILY:
            self._volume(cur, e, {}, {})
            return
        cur.execute(
            sql.SQL("SELECT status FROM {} WHERE volume_id = %s").format(self.table(ATTACHMENTS)),
            [volume_id],
        )
        statuses = [r["status"] for r in cur.fetchall()]
        self._volume(cur, e, {"status": s.status_from_attachments(statuses)}, {})

    @handles(Volume.AttachmentReserved)
    def _reserved(self, cur: Cursor, e: Volume.AttachmentReserved) -> None:
        cur.execute(
            sql.SQL("SELECT project_id FROM {} WHERE id = %s").format(self.table(VOLUMES)),
            [str(e.originator_id)],
        )
        row = cur.fetchone()
        body: dict[str, Any] = {
            "mode": e.mode,
            "connector": {},
            "connection_info": {},
            "mountpoint": None,
            "attached_at": None,
        }
        self.upsert(
            cur,
            ATTACHMENTS,
            {
                "id": e.attachment_id,
                "volume_id": str(e.originator_id),
                "server_id": e.server_id,
                "project_id": row["project_id"] if row else None,
                "status": s.ATTACH_RESERVED,
                "host": None,
                "created_at": e.timestamp,
                "body": body,
            },
        )
        self._rederive(cur, e)

    @handles(Volume.AttachmentConnected)
    def _connected(self, cur: Cursor, e: Volume.AttachmentConnected) -> None:
        body = {
            "connector": e.connector,
            "connection_info": e.connection_info,
            "mountpoint": e.mountpoint,
        }
        columns = {"status": s.ATTACH_ATTACHING, "host": e.host}
        self.patch(cur, ATTACHMENTS, e.attachment_id, columns, body)
        self._rederive(cur, e)

    @handles(Volume.AttachmentCompleted)
    def _completed(self, cur: Cursor, e: Volume.AttachmentCompleted) -> None:
        body: dict[str, Any] = {"attached_at": e.timestamp}
        if e.mountpoint:
            body["mountpoint"] = e.mountpoint
        self.patch(cur, ATTACHMENTS, e.attachment_id, {"status": s.ATTACHED}, body)
        self._rederive(cur, e)

    @handles(Volume.DetachRequested)
    def _detaching(self, cur: Cursor, e: Volume.DetachRequested) -> None:
        self.patch(cur, ATTACHMENTS, e.attachment_id, {"status": s.ATTACH_DETACHING}, {})
        self._rederive(cur, e)

    @handles(Volume.DetachFailed)
    def _detach_failed(self, cur: Cursor, e: Volume.DetachFailed) -> None:
        self.patch(cur, ATTACHMENTS, e.attachment_id, {"status": s.ATTACHED}, {})
        self._rederive(cur, e)

    @handles(Volume.AttachmentRemoved)
    def _removed(self, cur: Cursor, e: Volume.AttachmentRemoved) -> None:
        self.delete(cur, ATTACHMENTS, {"id": e.attachment_id})
        self._rederive(cur, e)
