"""Shared setup of the compute tests (no tests here): a command bus with the
compute and network projections on SQLite or PostgreSQL, and helpers that
make the images, networks, flavors and hosts a boot needs."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import commands.compute
import commands.image
import commands.network  # noqa: F401
from commands.bus import Command, CommandBus, Dependencies
from commands.compute.agent import RegisterHost
from commands.compute.flavors import CreateFlavor
from commands.context import SYSTEM_CONTEXT, Context
from commands.image.images import CreateImage
from commands.image.uploads import FinishUpload, StartUpload
from commands.network.networks import CreateNetwork, CreateSubnet
from infra.database import Database, open_database
from infra.eventstore import EventStore, open_recorder
from infra.settings import Settings
from projections.compute.projection import ComputeProjection
from projections.compute.queries import ComputeQueries
from projections.network.projection import NetworkProjection
from projections.runner import ProjectionRunner
from tests.integration.test_network_world import NoPasswords, settings_for

__all__ = [
    "ADMIN",
    "ALICE",
    "BOB",
    "ComputeWorld",
    "ed25519_public_key",
    "make_world",
    "settings_for",
]

ADMIN = Context(user_id="admin", project_id="p-admin", roles=frozenset({"admin", "member"}))
ALICE = Context(user_id="alice", project_id="p-alice", roles=frozenset({"member"}))
BOB = Context(user_id="bob", project_id="p-bob", roles=frozenset({"member"}))
GIB = 1024**3


@dataclass
class ComputeWorld:
    store: EventStore
    db: Database
    runner: ProjectionRunner
    bus: CommandBus
    queries: ComputeQueries

    def run(self, command: Command, ctx: Context = ALICE) -> dict[str, Any]:
        return self.bus.dispatch(command, ctx).outcome

    def host(self, name: str = "node-1", **inventory: Any) -> None:
        values: dict[str, Any] = {"vcpus": 8, "memory_mb": 8192, "disk_gb": 100}
        values.update(inventory)
        self.run(RegisterHost(hostname=name, **values), SYSTEM_CONTEXT)

    def flavor(self, flavorid: str = "1", vcpus: int = 1, ram: int = 512, disk: int = 1) -> str:
        name = f"f-{flavorid}"
        self.run(CreateFlavor(flavorid=flavorid, name=name, vcpus=vcpus, ram=ram, disk=disk), ADMIN)
        return flavorid

    def image(
        self, size: int = 10 * 1024 * 1024, min_disk: int = 0, min_ram: int = 0, **props: str
    ) -> str:
        image_id = self.run(
            CreateImage(
                owner="p-admin",
                name="cirros",
                visibility="public",
                disk_format="qcow2",
                container_format="bare",
                min_disk=min_disk,
                min_ram=min_ram,
                properties=props,
            ),
            ADMIN,
        )["id"]
        self.run(StartUpload(image_id=image_id), ADMIN)
        digest = hashlib.sha512(b"x").hexdigest()
        self.run(
            FinishUpload(
                image_id=image_id,
                size=size,
                virtual_size=None,
                checksum=hashlib.md5(b"x").hexdigest(),
                os_hash_algo="sha512",
                os_hash_value=digest,
            ),
            ADMIN,
        )
        return str(image_id)

    def network(self, ctx: Context = ALICE, cidr: str = "10.0.0.0/24") -> uuid.UUID:
        net: uuid.UUID = self.run(CreateNetwork(name="net"), ctx)["id"]
        self.run(CreateSubnet(network_id=net, cidr=cidr), ctx)
        return net

    def server(self, server_id: Any) -> dict[str, Any]:
        found = self.queries.any_server(str(server_id))
        assert found is not None, f"server {server_id} is not projected"
        return found


def ed25519_public_key(comment: str = "alice@laptop") -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate().public_key()
    raw = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{raw.decode()} {comment}"


def make_world(settings: Settings, max_attempts: int = 12) -> Iterator[ComputeWorld]:
    store = EventStore(open_recorder(settings))
    db = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
    runner = ProjectionRunner(db, store, [NetworkProjection(), ComputeProjection()])
    runner.setup()
    bus = CommandBus(
        store, Dependencies(passwords=NoPasswords()), runner.wait_for, max_attempts=max_attempts
    )
    yield ComputeWorld(store, db, runner, bus, ComputeQueries(db))
    db.close()
