"""The compute agent's outcomes as the commands that record them.

Agents never write read models (DESIGN.md); each report is a command the
domain makes idempotent, so a report repeated after a crash changes nothing.
A server deleted while its job ran is not an error: there is nothing left
to report on.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from commands.bus import CommandBus
from commands.compute.agent import (
    RecordConsoleOutput,
    ReportPowerState,
    ReportServerActive,
    ReportServerFailed,
    ReportServerStopped,
)
from commands.compute.snapshots import (
    ReportSnapshotFailed,
    ReportSnapshotTaken,
    ReportSnapshotUploading,
)
from commands.context import SYSTEM_CONTEXT
from commands.volume.agent import (
    ReportAttachFailed,
    ReportDetachFailed,
    ReportVolumeAttached,
    ReportVolumeDetached,
)
from domain.errors import DomainError
from infra.image_store import DataFacts

log = logging.getLogger(__name__)


class CommandReporter:
    def __init__(self, bus: CommandBus, host: str) -> None:
        self.bus = bus
        self.host = host

    def _dispatch(self, command: Any) -> None:
        try:
            self.bus.dispatch(command, SYSTEM_CONTEXT)
        except DomainError as error:
            log.info("compute agent report %s not recorded: %s", type(command).__name__, error)

    def active(self, server_id: str) -> None:
        self._dispatch(ReportServerActive(server_id=uuid.UUID(server_id), hostname=self.host))

    def stopped(self, server_id: str) -> None:
        self._dispatch(ReportServerStopped(server_id=uuid.UUID(server_id)))

    def failed(self, server_id: str, reason: str, details: str) -> None:
        command = ReportServerFailed(server_id=uuid.UUID(server_id), reason=reason, details=details)
        self._dispatch(command)

    def power(self, server_id: str, power_state: int) -> None:
        self._dispatch(ReportPowerState(server_id=uuid.UUID(server_id), power_state=power_state))

    def console(self, server_id: str, output: str) -> None:
        self._dispatch(RecordConsoleOutput(server_id=uuid.UUID(server_id), output=output))

    # -- hot-plugged volumes ------------------------------------------------------
    def volume_attached(self, volume_id: str, attachment_id: str, mountpoint: str) -> None:
        command = ReportVolumeAttached(
            volume_id=uuid.UUID(volume_id),
            attachment_id=uuid.UUID(attachment_id),
            mountpoint=mountpoint,
        )
        self._dispatch(command)

    def volume_detached(self, volume_id: str, attachment_id: str) -> None:
        command = ReportVolumeDetached(
            volume_id=uuid.UUID(volume_id), attachment_id=uuid.UUID(attachment_id)
        )
        self._dispatch(command)

    def attach_failed(self, volume_id: str, attachment_id: str, reason: str) -> None:
        command = ReportAttachFailed(
            volume_id=uuid.UUID(volume_id), attachment_id=uuid.UUID(attachment_id), reason=reason
        )
        self._dispatch(command)

    def detach_failed(self, volume_id: str, attachment_id: str, reason: str) -> None:
        command = ReportDetachFailed(
            volume_id=uuid.UUID(volume_id), attachment_id=uuid.UUID(attachment_id), reason=reason
        )
        self._dispatch(command)

    # -- snapshots to an image ----------------------------------------------------
    def _answer(self, command: Any, key: str) -> bool:
        """The report's yes/no outcome (no when it was refused)."""
        try:
            return bool(self.bus.dispatch(command, SYSTEM_CONTEXT).outcome.get(key))
        except DomainError as error:
            log.info("compute agent report %s not recorded: %s", type(command).__name__, error)
            return False

    def snapshot_uploading(self, server_id: str, image_id: str) -> bool:
        command = ReportSnapshotUploading(
            server_id=uuid.UUID(server_id), image_id=uuid.UUID(image_id)
        )
        return self._answer(command, "go")

    def snapshot_taken(self, server_id: str, image_id: str, facts: DataFacts) -> bool:
        command = ReportSnapshotTaken(
            server_id=uuid.UUID(server_id),
            image_id=uuid.UUID(image_id),
            size=facts.size,
            virtual_size=facts.virtual_size,
            checksum=facts.checksum,
            os_hash_algo=facts.os_hash_algo,
            os_hash_value=facts.os_hash_value,
        )
        return self._answer(command, "recorded")

    def snapshot_failed(self, server_id: str, image_id: str, reason: str) -> None:
        command = ReportSnapshotFailed(
            server_id=uuid.UUID(server_id), image_id=uuid.UUID(image_id), reason=reason
        )
        self._dispatch(command)
