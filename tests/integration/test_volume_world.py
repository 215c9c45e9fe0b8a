"""Shared setup of the block storage tests (no tests here): a command bus with
the volume and compute projections on SQLite or PostgreSQL, a storage host,
and a storage agent on real files in the test's folder."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import commands.compute
import commands.image
import commands.volume  # noqa: F401  (register the handlers)
from commands.bus import Command, CommandBus, Dependencies
from commands.context import SYSTEM_CONTEXT, Context
from commands.volume.agent import RegisterStorageHost
from infra.database import Database, open_database
from infra.eventstore import EventStore, open_recorder
from infra.settings import Settings
from infra.volume_files import VolumeFiles
from projections.compute.projection import ComputeProjection
from projections.network.projection import NetworkProjection
from projections.runner import ProjectionRunner
from projections.volume.host_state import storage_host_state
from projections.volume.projection import VolumeProjection
from projections.volume.queries import VolumeQueries
from runtime.storage_agent import Reporter
from tests.integration.test_compute_world import ADMIN, ALICE, BOB
from tests.integration.test_network_world import NoPasswords, settings_for
from workers.storage.agent import StorageAgent
from workers.storage.report import Report

__all__ = ["ADMIN", "ALICE", "BOB", "HOST", "VolumeWorld", "make_world", "settings_for"]

HOST = "store-1"


@dataclass
class VolumeWorld:
    store: EventStore
    db: Database
    runner: ProjectionRunner
    bus: CommandBus
    queries: VolumeQueries
    folder: Path
    images: Path

    def run(self, command: Command, ctx: Context = ALICE) -> dict[str, Any]:
        return self.bus.dispatch(command, ctx).outcome

    def volume(self, volume_id: Any) -> dict[str, Any]:
        found = self.queries.volume(str(volume_id), None)
        assert found is not None, f"volume {volume_id} is not projected"
        return found

    def snapshot(self, snapshot_id: Any) -> dict[str, Any] | None:
        return self.queries.snapshot(str(snapshot_id), None)

    def agent(self) -> StorageAgent:
        return StorageAgent(VolumeFiles(self.folder), self.images)

    def converge(self, full: bool = False) -> Report:
        """One storage agent pass, its reports dispatched as the runtime does."""
        report = self.agent().converge(storage_host_state(self.db, HOST), full)
        Reporter(self).publish(report)  # type: ignore[arg-type]  # needs only .bus
        return report


def make_world(settings: Settings, tmp_path: Path) -> Iterator[VolumeWorld]:
    store = EventStore(open_recorder(settings))
    db = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
    runner = ProjectionRunner(
        db, store, [NetworkProjection(), ComputeProjection(), VolumeProjection()]
    )
    runner.setup()
    bus = CommandBus(store, Dependencies(passwords=NoPasswords()), runner.wait_for)
    folder, images = tmp_path / "volumes", tmp_path / "images"
    images.mkdir()
    world = VolumeWorld(store, db, runner, bus, VolumeQueries(db), folder, images)
    world.run(RegisterStorageHost(hostname=HOST, volumes_dir=str(folder)), SYSTEM_CONTEXT)
    yield world
    db.close()


def new_id() -> uuid.UUID:
    return uuid.uuid4()
