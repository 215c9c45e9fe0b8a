"""Server rows, their instance actions and console output, from server events.

Instance actions are Nova's "what was done to this server": one row per
request that changed it (keyed by the request id every event carries in its
metadata), with the steps the agent later reported as its events.
"""

from __future__ import annotations

import re
from typing import Any

from psycopg import sql

from domain.compute import states as s
from domain.compute.servers import Server
from infra.database import Cursor
from infra.eventstore import event_meta
from projections.base import Projection, format_time, from_json, handles, to_column

SERVERS, ACTIONS = "compute_servers", "compute_instance_actions"

# Nova's names for the steps of each action, as `openstack server event show` lists them.
ACTION_EVENTS = {
    "create": "compute__do_build_and_run_instance",
    "start": "compute_start_instance",
    "stop": "compute_stop_instance",
    "reboot": "compute_reboot_instance",
    "delete": "compute_terminate_instance",
    "createImage": "compute_snapshot_instance",
}


def hostname_of(name: str) -> str:
    """Nova's sanitized hostname: lowercase, letters, digits and hyphens."""
    text = re.sub(r"[^a-z0-9-]+", "-", name.lower().replace("_", "-")).strip("-.")
    return text[:63] or "server"


class ServerRows(Projection):
    def _body(self, cur: Cursor, server_id: str) -> tuple[dict[str, Any], str] | None:
        cur.execute(
            sql.SQL("SELECT body, last_action FROM {} WHERE id = %s").format(self.table(SERVERS)),
            [server_id],
        )
        row = cur.fetchone()
        if row is None:
            return None
        return from_json(row["body"], {}), str(row["last_action"] or "")

    def _change(self, cur: Cursor, e: Any, columns: dict[str, Any], **body: Any) -> None:
        server_id = str(e.originator_id)
        columns = {**columns, "updated_at": e.timestamp}
        if body:
            found = self._body(cur, server_id)
            if found is None:
                return
            columns["body"] = {**found[0], **body}
        self.update(cur, SERVERS, columns, {"id": server_id})

    # -- actions --------------------------------------------------------------
    def _start_action(self, cur: Cursor, e: Any, action: str, project_id: str = "") -> None:
        meta = event_meta(e)
        server_id = str(e.originator_id)
        request_id = meta.get("request_id") or f"req-{server_id}-{e.originator_version}"
        started = format_time(e.timestamp)
        step: dict[str, Any] = {
            "event": ACTION_EVENTS[action],
            "start_time": started,
            "finish_time": None,
            "result": None,
        }
        self.upsert(
            cur,
            ACTIONS,
            {
                "server_id": server_id,
                "request_id": request_id,
                "action": action,
                "project_id": project_id or str(meta.get("project_id", "")),
                "user_id": str(meta.get("user_id", "")),
                "start_time": started,
                "updated_at": started,
                "message": None,
                "events": [step],
            },
        )
        self.update(cur, SERVERS, {"last_action": request_id}, {"id": server_id})

    def _finish_action(self, cur: Cursor, e: Any, result: str, reason: str | None = None) -> None:
        server_id = str(e.originator_id)
        found = self._body(cur, server_id)
        if found is None or not found[1]:
            return
        where = {"server_id": server_id, "request_id": found[1]}
        cur.execute(
            sql.SQL("SELECT events FROM {} WHERE server_id = %s AND request_id = %s").format(
                self.table(ACTIONS)
            ),
            list(where.values()),
        )
        row = cur.fetchone()
        if row is None:
            return
        finished = format_time(e.timestamp)
        ended: dict[str, Any] = {"finish_time": finished, "result": result}
        if reason is not None:
            ended["traceback"] = reason  # what went wrong, where Nova keeps its traceback
        steps = [
            {**step, **ended} if step.get("finish_time") is None else step
            for step in from_json(row["events"], [])
        ]
        changes: dict[str, Any] = {"events": steps, "updated_at": finished}
        if result == "Error":
            changes["message"] = "Error"
        self.update(cur, ACTIONS, changes, where)

    # -- server events ------------------------------------------------------------
    @handles(Server.Created)
    def _created(self, cur: Cursor, e: Server.Created) -> None:
        server_id = str(e.originator_id)
        body = {
            "description": e.description,
            "flavor": e.flavor,
            "key_name": e.key_name,
            "metadata": e.metadata,
            "security_groups": e.security_groups,
            "launch_index": e.launch_index,
            "config_drive": e.config_drive,
            "user_data": e.user_data,
            "key_data": e.key_data,
            "hostname": hostname_of(e.name),
            "ports": [],
            "fault": None,
        }
        self.upsert(
            cur,
            SERVERS,
            {
                "id": server_id,
                "project_id": e.project_id,
                "user_id": e.user_id,
                "name": e.name,
                "vm_state": s.BUILDING,
                "task_state": s.SCHEDULING,
                "power_state": s.NOSTATE,
                "host": None,
                "availability_zone": e.availability_zone,
                "image_id": e.image_id,
                "flavor_id": e.flavor["id"],
                "reservation_id": e.reservation_id,
                "deleted": False,
                "created_at": e.timestamp,
                "updated_at": e.timestamp,
                "launched_at": None,
                "terminated_at": None,
                "last_action": "",
                "tags": sorted(set(e.tags)),
                "body": body,
            },
        )
        self._start_action(cur, e, "create", e.project_id)

    @handles(Server.Scheduled)
    def _scheduled(self, cur: Cursor, e: Server.Scheduled) -> None:
        self._change(
            cur,
            e,
            {"host": e.host, "availability_zone": e.availability_zone, "task_state": s.SPAWNING},
        )

    @handles(Server.PortsAttached)
    def _ports(self, cur: Cursor, e: Server.PortsAttached) -> None:
        found = self._body(cur, str(e.originator_id))
        if found is not None:
            self._change(cur, e, {}, ports=found[0].get("ports", []) + e.ports)

    @handles(Server.TaskStarted)
    def _task(self, cur: Cursor, e: Server.TaskStarted) -> None:
        self._change(cur, e, {"task_state": e.task_state})
        self._start_action(cur, e, e.action)

    @handles(Server.BecameActive)
    def _active(self, cur: Cursor, e: Server.BecameActive) -> None:
        cur.execute(
            sql.SQL("SELECT launched_at FROM {} WHERE id = %s").format(self.table(SERVERS)),
            [str(e.originator_id)],
        )
        row = cur.fetchone()
        launched = row["launched_at"] if row and row["launched_at"] else to_column(e.timestamp)
        columns = {"vm_state": s.ACTIVE, "task_state": None, "power_state": s.RUNNING}
        self._change(cur, e, {**columns, "host": e.host, "launched_at": launched}, fault=None)
        self._finish_action(cur, e, "Success")

    @handles(Server.Stopped)
    def _stopped(self, cur: Cursor, e: Server.Stopped) -> None:
        columns = {"vm_state": s.STOPPED, "task_state": None, "power_state": s.SHUTDOWN}
        self._change(cur, e, columns)
        self._finish_action(cur, e, "Success")

    @handles(Server.Failed)
    def _failed(self, cur: Cursor, e: Server.Failed) -> None:
        fault = {
            "code": e.code,
            "message": e.message,
            "details": e.details,
            "created": format_time(e.timestamp),
        }
        self._change(cur, e, {"vm_state": s.ERROR, "task_state": None}, fault=fault)
        self._finish_action(cur, e, "Error")

    @handles(Server.PowerStateChanged)
    def _power(self, cur: Cursor, e: Server.PowerStateChanged) -> None:
        self._change(cur, e, {"power_state": e.power_state, "vm_state": e.vm_state})

    @handles(Server.ConsoleOutputRecorded)
    def _console(self, cur: Cursor, e: Server.ConsoleOutputRecorded) -> None:
        self.upsert(cur, "compute_console", {"server_id": str(e.originator_id), "output": e.output})

    @handles(Server.Updated)
    def _updated(self, cur: Cursor, e: Server.Updated) -> None:
        columns: dict[str, Any] = {}
        body: dict[str, Any] = {}
        for key, value in e.changes.items():
            if key == "name":
                columns["name"] = value
                body["hostname"] = hostname_of(value)
            elif key == "tags":
                columns["tags"] = sorted(set(value))
            else:
                body[key] = value
        self._change(cur, e, columns, **body)

    @handles(Server.Deleted)
    def _deleted(self, cur: Cursor, e: Server.Deleted) -> None:
        columns = {"vm_state": s.DELETED, "task_state": None, "deleted": True}
        self._change(cur, e, {**columns, "terminated_at": e.timestamp})
        self._start_action(cur, e, "delete")
        self._finish_action(cur, e, "Success")

    # -- snapshots to an image -------------------------------------------------------
    @handles(Server.SnapshotStarted)
    def _snapshot_started(self, cur: Cursor, e: Server.SnapshotStarted) -> None:
        self._change(cur, e, {"task_state": s.IMAGE_SNAPSHOT}, snapshot_image_id=e.image_id)
        self._start_action(cur, e, "createImage")

    @handles(Server.SnapshotEnded)
    def _snapshot_ended(self, cur: Cursor, e: Server.SnapshotEnded) -> None:
        self._change(cur, e, {"task_state": None}, snapshot_image_id=None)
        self._finish_action(cur, e, "Success" if e.error is None else "Error", e.error)

    # -- volumes the server records (boot volumes and attachments) ----------------------
    def _volumes(self, cur: Cursor, server_id: str) -> list[dict[str, Any]]:
        found = self._body(cur, server_id)
        return list(found[0].get("volumes", [])) if found is not None else []

    @handles(Server.VolumeAttached)
    def _volume_attached(self, cur: Cursor, e: Server.VolumeAttached) -> None:
        entry = {
            "id": e.volume_id,
            "attachment_id": e.attachment_id,
            "boot_index": e.boot_index,
            "delete_on_termination": e.delete_on_termination,
            "ready": e.ready,
        }
        volumes = self._volumes(cur, str(e.originator_id))
        self._change(cur, e, {}, volumes=[v for v in volumes if v["id"] != e.volume_id] + [entry])

    @handles(Server.VolumeDetached)
    def _volume_detached(self, cur: Cursor, e: Server.VolumeDetached) -> None:
        volumes = self._volumes(cur, str(e.originator_id))
        self._change(cur, e, {}, volumes=[v for v in volumes if v["id"] != e.volume_id])

    @handles(Server.WaitingForVolumes)
    def _waiting_for_volumes(self, cur: Cursor, e: Server.WaitingForVolumes) -> None:
        self._change(cur, e, {"task_state": s.BLOCK_DEVICE_MAPPING})

    @handles(Server.VolumeReady)
    def _volume_ready(self, cur: Cursor, e: Server.VolumeReady) -> None:
        server_id = str(e.originator_id)
        found = self._body(cur, server_id)
        if found is None:
            return
        volumes = [
            {**v, "ready": True} if v["id"] == e.volume_id else v
            for v in found[0].get("volumes", [])
        ]
        columns: dict[str, Any] = {}
        cur.execute(
            sql.SQL("SELECT task_state FROM {} WHERE id = %s").format(self.table(SERVERS)),
            [server_id],
        )
        row = cur.fetchone()
        # The same rule as the aggregate: the last volume made lets the boot go on.
        if row and row["task_state"] == s.BLOCK_DEVICE_MAPPING and all(v["ready"] for v in volumes):
            columns["task_state"] = s.SPAWNING
        self._change(cur, e, columns, volumes=volumes)
