"""A server (Nova's instance): what was asked for, where it runs, what state it is in.

The API side records intents (start, stop, reboot) as task states; the compute
agent of the server's host reports outcomes (active, stopped, failed). The
status clients see is derived from both, the way Nova does it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.base import Resource, check_name
from domain.compute import states as s
from domain.errors import InvalidInput

MAX_CONSOLE_CHARS = 64 * 1024
MAX_TAGS = 50


def check_tags(tags: list[str]) -> list[str]:
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"The number of tags exceeded the per-server limit {MAX_TAGS}")
    for tag in tags:
        if not tag or len(tag) > 60 or "/" in tag or "," in tag:
            raise InvalidInput(f"Invalid tag: '{tag}'")
    return sorted(set(tags))


class Server(Resource):
    class Created(Aggregate.Created):
        class_version = 1
        project_id: str
        user_id: str
        name: str
        description: str | None
        flavor: dict[str, Any]
        image_id: str
        key_name: str | None
        key_data: str | None
        user_data: str | None
        metadata: dict[str, str]
        availability_zone: str | None
        security_groups: list[str]
        tags: list[str]
        reservation_id: str
        launch_index: int
        config_drive: bool

    @event(Created)
    def __init__(
        self,
        project_id: str,
        user_id: str,
        name: str,
        description: str | None,
        flavor: dict[str, Any],
        image_id: str,
        key_name: str | None,
        key_data: str | None,
        user_data: str | None,
        metadata: dict[str, str],
        availability_zone: str | None,
        security_groups: list[str],
        tags: list[str],
        reservation_id: str,
        launch_index: int,
        config_drive: bool,
    ) -> None:
        self.project_id = project_id
        self.user_id = user_id
        self.name = check_name(name, "server name")
        self.description = description
        self.flavor = flavor
        self.image_id = image_id
        self.key_name = key_name
        self.key_data = key_data
        self.user_data = user_data
        self.metadata = metadata
        self.availability_zone = availability_zone
        self.security_groups = security_groups
        self.tags = check_tags(tags)
        self.reservation_id = reservation_id
        self.launch_index = launch_index
        self.config_drive = config_drive
        self.vm_state = s.BUILDING
        self.task_state: str | None = s.SCHEDULING
        self.power_state = s.NOSTATE
        self.host: str | None = None
        self.ports: list[dict[str, Any]] = []
        self.launched_at: datetime | None = None
        self.fault: dict[str, Any] | None = None
        self.console_output = ""
        # volume id -> {attachment_id, boot_index, delete_on_termination, ready}:
        # recorded in the same transaction as each volume's attachment, so a
        # delete frees exactly these, however late a read model is.
        self.volumes: dict[str, dict[str, Any]] = {}

    @property
    def status(self) -> str:
        return s.server_status(self.vm_state, self.task_state)

    @property
    def volume_backed(self) -> bool:
        """Nova's rule: a server without an image boots from a volume."""
        return not self.image_id

    @property
    def resources(self) -> dict[str, int]:
        """What the server's flavor claims on its host (a volume-backed root
        disk lives on the storage host, so only ephemeral disk is claimed)."""
        root = 0 if self.volume_backed else int(self.flavor["disk"])
        return {
            "vcpus": int(self.flavor["vcpus"]),
            "memory_mb": int(self.flavor["ram"]),
            "disk_gb": root + int(self.flavor.get("ephemeral", 0)),
        }

    # -- placement and networking (recorded in the create transaction) -------
    class Scheduled(Aggregate.Event):
        class_version = 1
        host: str
        availability_zone: str

    def schedule(self, host: str, availability_zone: str) -> None:
        self.require_alive()
        self._scheduled(host, availability_zone)

    @event(Scheduled)
    def _scheduled(self, host: str, availability_zone: str) -> None:
        self.host = host
        self.availability_zone = availability_zone
        self.task_state = s.SPAWNING

    class PortsAttached(Aggregate.Event):
        class_version = 1
        ports: list[dict[str, Any]]

    def attach_ports(self, ports: list[dict[str, Any]]) -> None:
        """Ports as {port_id, network_id, created}: `created` ones go with the server."""
        if ports:
            self._attach(ports)

    @event(PortsAttached)
    def _attach(self, ports: list[dict[str, Any]]) -> None:
        self.ports = self.ports + ports

    # -- user actions ----------------------------------------------------------
    class TaskStarted(Aggregate.Event):
        class_version = 1
        action: str
        task_state: str

    @event(TaskStarted)
    def _task(self, action: str, task_state: str) -> None:
        self.task_state = task_state

    def start(self) -> None:
        self._check("start", (s.STOPPED,))
        self._task("start", s.POWERING_ON)

    def stop(self) -> None:
        self._check("stop", (s.ACTIVE, s.ERROR))
        self._task("stop", s.POWERING_OFF)

    def reboot(self, hard: bool) -> None:
        if hard:
            self._check(
                "reboot", (s.ACTIVE, s.STOPPED, s.ERROR), (None, s.REBOOTING, s.REBOOTING_HARD)
            )
            self._task("reboot", s.REBOOTING_HARD)
        else:
            self._check("reboot", (s.ACTIVE,))
            self._task("reboot", s.REBOOTING)

    def _check(
        self,
        action: str,
        vm_states: tuple[str, ...],
        task_states: tuple[str | None, ...] = (None,),
    ) -> None:
        self.require_alive()
        s.require_state(self.id, action, self.vm_state, self.task_state, vm_states, task_states)

    def update_details(self, name: str | None, description: str | None, clear: bool) -> None:
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = check_name(name, "server name")
        if description is not None or clear:
            changes["description"] = description
        self._apply_changes(changes)

    def set_tags(self, tags: list[str]) -> None:
        self._apply_changes({"tags": check_tags(tags)})

    def set_metadata(self, metadata: dict[str, str]) -> None:
        for key, value in metadata.items():
            if not 0 < len(key) <= 255 or len(value) > 255:
                raise InvalidInput("Invalid input for field/attribute metadata.")
        self._apply_changes({"metadata": dict(sorted(metadata.items()))})

    # -- outcomes the compute agent reports ---------------------------------------
    class BecameActive(Aggregate.Event):
        class_version = 1
        host: str

        def apply(self, aggregate: Aggregate) -> None:
            # launched_at is the time of the event itself: the domain reads no clock.
            server: Server = aggregate  # type: ignore[assignment]
            if server.launched_at is None:
                server.launched_at = self.timestamp
            server.host = self.host
            server.vm_state, server.task_state, server.power_state = s.ACTIVE, None, s.RUNNING
            server.fault = None

    def became_active(self, host: str) -> None:
        self.require_alive()
        # A snapshot's task is ended by its own report, never by a power report.
        idle = (None, s.IMAGE_SNAPSHOT)
        if self.vm_state == s.ACTIVE and self.task_state in idle and self.host == host:
            return  # a repeated report changes nothing
        self.trigger_event(self.BecameActive, host=host)

    class Stopped(Aggregate.Event):
        class_version = 1

    def stopped(self) -> None:
        self.require_alive()
        if self.vm_state == s.STOPPED and self.task_state in (None, s.IMAGE_SNAPSHOT):
            return  # (a snapshot of a stopped server goes on: its own report ends it)
        self._stopped()

    @event(Stopped)
    def _stopped(self) -> None:
        self.vm_state, self.task_state, self.power_state = s.STOPPED, None, s.SHUTDOWN

    class Failed(Aggregate.Event):
        class_version = 1
        code: int
        message: str
        details: str

        def apply(self, aggregate: Aggregate) -> None:
            server: Server = aggregate  # type: ignore[assignment]
            server.vm_state, server.task_state = s.ERROR, None
            server.fault = {
                "code": self.code,
                "message": self.message,
                "details": self.details,
                "created": self.timestamp,
            }

    def fail(self, message: str, code: int = 500, details: str = "") -> None:
        self.require_alive()
        self.trigger_event(self.Failed, code=code, message=message, details=details)

    class PowerStateChanged(Aggregate.Event):
        class_version = 1
        power_state: int
        vm_state: str

    def power_state_changed(self, power_state: int) -> None:
        """The hypervisor says the guest is (not) running; like Nova's power
        sync, a guest that stopped by itself while idle counts as stopped."""
        self.require_alive()
        if power_state not in s.POWER_STATES:
            raise InvalidInput(f"Unknown power state {power_state}.")
        vm_state = self.vm_state
        if self.task_state is None:
            if vm_state == s.ACTIVE and power_state in (s.SHUTDOWN, s.CRASHED):
                vm_state = s.STOPPED
            elif vm_state == s.STOPPED and power_state == s.RUNNING:
                vm_state = s.ACTIVE
        if power_state != self.power_state or vm_state != self.vm_state:
            self._power(power_state, vm_state)

    @event(PowerStateChanged)
    def _power(self, power_state: int, vm_state: str) -> None:
        self.power_state, self.vm_state = power_state, vm_state

    class ConsoleOutputRecorded(Aggregate.Event):
        class_version = 1
        output: str

    def record_console(self, output: str) -> None:
        """The agent's latest copy of the serial console (its tail)."""
        self.require_alive()
        tail = output[-MAX_CONSOLE_CHARS:]
        if tail != self.console_output:
            self._console(tail)

    @event(ConsoleOutputRecorded)
    def _console(self, output: str) -> None:
        self.console_output = output

    # -- volumes: recorded with each attachment, in the same transaction -------
    class VolumeAttached(Aggregate.Event):
        class_version = 1
        volume_id: str
        attachment_id: str
        boot_index: int | None
        delete_on_termination: bool
        ready: bool

        def apply(self, aggregate: Aggregate) -> None:
            server: Server = aggregate  # type: ignore[assignment]
            server.volumes = {
                **server.volumes,
                self.volume_id: {
                    "attachment_id": self.attachment_id,
                    "boot_index": self.boot_index,
                    "delete_on_termination": self.delete_on_termination,
                    "ready": self.ready,
                },
            }

    def attach_volume(
        self,
        volume_id: str,
        attachment_id: str,
        boot_index: int | None = None,
        delete_on_termination: bool = False,
        ready: bool = True,
    ) -> None:
        """`ready`: the volume exists; a volume still being created for the
        server's boot is not, and holds the boot (`wait_for_volumes`)."""
        self.require_alive()
        if volume_id in self.volumes:
            raise InvalidInput(
                f"Invalid volume: Volume {volume_id} is already attached to server {self.id}."
            )
        self.trigger_event(
            self.VolumeAttached,
            volume_id=volume_id,
            attachment_id=attachment_id,
            boot_index=boot_index,
            delete_on_termination=delete_on_termination,
            ready=ready,
        )

    class VolumeDetached(Aggregate.Event):
        class_version = 1
        volume_id: str

        def apply(self, aggregate: Aggregate) -> None:
            server: Server = aggregate  # type: ignore[assignment]
            server.volumes = {k: v for k, v in server.volumes.items() if k != self.volume_id}

    def volume_detached(self, volume_id: str, attachment_id: str) -> None:
        """The attachment `attachment_id` ended (a stale one changes nothing)."""
        if self.deleted:
            return
        found = self.volumes.get(volume_id)
        if found is not None and found["attachment_id"] == attachment_id:
            self.trigger_event(self.VolumeDetached, volume_id=volume_id)

    class WaitingForVolumes(Aggregate.Event):
        class_version = 1

        def apply(self, aggregate: Aggregate) -> None:
            server: Server = aggregate  # type: ignore[assignment]
            server.task_state = s.BLOCK_DEVICE_MAPPING

    def wait_for_volumes(self) -> None:
        """Hold the boot (BUILD, task block_device_mapping) until every volume
        made for it exists; the compute agent defines nothing meanwhile."""
        self.require_alive()
        if any(not v["ready"] for v in self.volumes.values()):
            self.trigger_event(self.WaitingForVolumes)

    class VolumeReady(Aggregate.Event):
        class_version = 1
        volume_id: str

        def apply(self, aggregate: Aggregate) -> None:
            server: Server = aggregate  # type: ignore[assignment]
            found = server.volumes[self.volume_id]
            server.volumes = {**server.volumes, self.volume_id: {**found, "ready": True}}
            waiting = server.task_state == s.BLOCK_DEVICE_MAPPING
            if waiting and all(v["ready"] for v in server.volumes.values()):
                server.task_state = s.SPAWNING

    def volume_ready(self, volume_id: str) -> None:
        """A volume made for the boot exists; the last one lets the boot go on.
        Every such report changes the server, so two volumes becoming ready at
        once are serialised here and the last one is never missed."""
        if self.deleted or self.vm_state != s.BUILDING:
            return
        found = self.volumes.get(volume_id)
        if found is not None and not found["ready"]:
            self.trigger_event(self.VolumeReady, volume_id=volume_id)

    # -- snapshots to an image (createImage) ------------------------------------
    # The image a snapshot in progress writes to. A class default, so servers
    # saved before snapshots existed replay unchanged.
    snapshot_image_id: str | None = None

    class SnapshotStarted(Aggregate.Event):
        class_version = 1
        image_id: str

        def apply(self, aggregate: Aggregate) -> None:
            server: Server = aggregate  # type: ignore[assignment]
            server.task_state = s.IMAGE_SNAPSHOT
            server.snapshot_image_id = self.image_id

    def start_snapshot(self, image_id: str) -> None:
        """Nova's createImage rule: an ACTIVE or SHUTOFF server with no task."""
        self._check("createImage", (s.ACTIVE, s.STOPPED))
        self.trigger_event(self.SnapshotStarted, image_id=image_id)

    class SnapshotEnded(Aggregate.Event):
        class_version = 1
        image_id: str
        error: str | None  # None: the image holds the snapshot

        def apply(self, aggregate: Aggregate) -> None:
            server: Server = aggregate  # type: ignore[assignment]
            server.task_state = None
            server.snapshot_image_id = None

    def end_snapshot(self, image_id: str, error: str | None = None) -> bool:
        """The snapshot to `image_id` ended; the server keeps its vm_state
        whatever happened (a failed snapshot is not a broken server). A report
        about any other snapshot changes nothing, so reports may repeat."""
        if self.deleted or self.snapshot_image_id != image_id:
            return False
        self.trigger_event(self.SnapshotEnded, image_id=image_id, error=error)
        return True
