"""Run this host's storage agent inside a Strata process, wired to the cloud.

Registers the host (and its folder) as a storage host, then converges the
volume files on every change of the block storage read model and fully on a
timer. Reports become the commands of commands/volume/agent.py; a pass that
changed nothing dispatches nothing. A thread is enough: qemu-img runs as a
child process and nothing here forks inside the API process's event loop.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from commands.context import SYSTEM_CONTEXT
from commands.volume import agent as reports
from commands.volume import uploads
from domain.errors import DomainError
from infra.volume_files import VolumeFiles, qemu_img_path
from projections.volume.host_state import storage_host_state
from workers.storage.agent import StorageAgent
from workers.storage.loop import StorageLoop
from workers.storage.report import Report

if TYPE_CHECKING:
    from runtime.cloud import Cloud

log = logging.getLogger(__name__)

WATCH_INTERVAL = 0.05  # how often the volume read model's change marker is read


@dataclass
class RunningStorageAgent:
    loop: StorageLoop | None
    description: str
    stop: Callable[[], None]


class Reporter:
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    def publish(self, report: Report) -> None:
        commands: list[Any] = [
            *(
                reports.ReportSnapshotAvailable(snapshot_id=uuid.UUID(i))
                for i in report.snapshots_available
            ),
            *(reports.ReportSnapshotGone(snapshot_id=uuid.UUID(i)) for i in report.snapshots_gone),
            *(
                reports.ReportSnapshotFailed(snapshot_id=uuid.UUID(i), reason=r)
                for i, r in report.snapshots_failed.items()
            ),
            *(reports.ReportVolumeProvisioned(volume_id=uuid.UUID(i)) for i in report.provisioned),
            *(
                reports.ReportVolumeExtended(volume_id=uuid.UUID(i), size=size)
                for i, size in report.extended.items()
            ),
            *(reports.ReportVolumeGone(volume_id=uuid.UUID(i)) for i in report.gone),
            *(
                uploads.ReportVolumeUploaded(
                    volume_id=uuid.UUID(i), image_id=uuid.UUID(image_id), **asdict(facts)
                )
                for i, (image_id, facts) in report.uploaded.items()
            ),
            *(
                uploads.ReportVolumeUploadFailed(
                    volume_id=uuid.UUID(i), image_id=uuid.UUID(image_id), reason=reason
                )
                for i, (image_id, reason) in report.uploads_failed.items()
            ),
            *(
                reports.ReportVolumeFailed(volume_id=uuid.UUID(i), reason=r)
                for i, r in report.failed.items()
            ),
        ]
        for command in commands:
            try:
                self.cloud.bus.dispatch(command, SYSTEM_CONTEXT)
            except DomainError as error:  # the volume went away meanwhile
                log.info("storage report %s not recorded: %s", type(command).__name__, error)
        if report.removed_files:
            log.warning("storage agent removed files no volume owns: %s", report.removed_files)


def start_storage_agent(cloud: Cloud) -> RunningStorageAgent:
    """Start the agent loop in a thread, or explain why it does not run."""
    settings = cloud.settings
    if qemu_img_path() is None:
        return RunningStorageAgent(
            None, "not running: qemu-img not found (apt-get install qemu-utils)", lambda: None
        )
    folder = (settings.volumes_dir or settings.data_dir / "volumes").resolve()
    files = VolumeFiles(folder)
    images_dir = settings.images_dir or settings.data_dir / "images"
    register = reports.RegisterStorageHost(
        hostname=settings.host, volumes_dir=str(folder), capacity_gb=files.free_gb()
    )
    cloud.bus.dispatch(register, SYSTEM_CONTEXT)
    reporter = Reporter(cloud)
    loop = StorageLoop(
        StorageAgent(files, images_dir),
        load_state=lambda: storage_host_state(cloud.db, settings.host),
        publish=reporter.publish,
        interval=settings.agent_interval,
    )
    stopping = threading.Event()
    seen = [cloud.runner.changed_position("volume")]

    def poke_if_changed() -> None:
        now = cloud.runner.changed_position("volume")
        if now != seen[0]:
            seen[0] = now
            loop.poke()

    def watch() -> None:
        while not stopping.wait(WATCH_INTERVAL):
            poke_if_changed()

    threads = [
        threading.Thread(target=loop.run, name="storage-agent", daemon=True),
        threading.Thread(target=watch, name="storage-agent-watch", daemon=True),
    ]
    for thread in threads:
        thread.start()
    # Commands of this process (the APIs of `strata up`) that changed the
    # volume read model wake the agent at once (other commands would only
    # cost it a pass); the watch above catches writes of other processes.
    cloud.commit_listeners.append(lambda _position: poke_if_changed())

    def stop() -> None:
        stopping.set()
        loop.stop()
        for thread in threads:
            thread.join(timeout=10)

    return RunningStorageAgent(loop, f"qcow2 files in {folder} on host {settings.host}", stop)
