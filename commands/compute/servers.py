"""Servers: create (with placement and ports, in one transaction), update,
actions and delete."""

from __future__ import annotations

import base64
import binascii
import secrets
import uuid
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from commands.bus import Command, Dependencies, Outcome, handler
from commands.compute import networking, scheduling
from commands.compute.images import check_flavor_fits, image_facts
from commands.compute.support import (
    FlavorNotFound,
    KeypairNotFound,
    find_flavor,
    find_keypair,
)
from commands.context import Context
from commands.image.snapshots import abandon_snapshot
from commands.unit_of_work import UnitOfWork
from domain.compute.placement import NO_VALID_HOST, Request
from domain.compute.servers import Server
from domain.errors import InvalidInput, NotFound

MAX_USER_DATA = 65535


class ServerNotFound(NotFound):
    def __init__(self, server_id: object) -> None:
        super().__init__("instance", server_id)
        self.message = f"Instance {server_id} could not be found."
        self.args = (self.message,)


class MetadataNotFound(NotFound):
    def __init__(self, key: str) -> None:
        super().__init__("metadata item", key)
        self.message = "Metadata item was not found"
        self.args = (self.message,)


class BlockDevice(BaseModel):
    """One volume of Nova's block_device_mapping_v2 (destination `volume`);
    the API turns an image with destination `local` into `image_ref`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    source_type: Literal["image", "volume", "snapshot", "blank"]
    uuid: str | None = None
    volume_size: int | None = None
    boot_index: int | None = None
    delete_on_termination: bool = False
    device_name: str | None = None
    volume_type: str | None = None


class CreateServer(Command):
    # Every boot claims on one of a few host aggregates: a burst of boots
    # loses many races there, each retried with backoff rather than refused.
    max_attempts: ClassVar[int | None] = 40
    name: str
    image_ref: str = ""  # none when the server boots from a volume
    flavor_ref: str
    description: str | None = None
    networks: list[networking.NetworkRequest] = Field(default_factory=list)
    security_group_ids: list[uuid.UUID] | None = None  # resolved from names by the API
    security_group_names: list[str] = Field(default_factory=lambda: ["default"])
    key_name: str | None = None
    user_data: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    min_count: int = Field(default=1, ge=1)
    max_count: int = Field(default=1, ge=1)
    availability_zone: str | None = None
    same_host: list[uuid.UUID] = Field(default_factory=list)
    different_host: list[uuid.UUID] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    config_drive: bool = False
    block_devices: list[BlockDevice] = Field(default_factory=list)


class UpdateServer(Command):
    server_id: uuid.UUID
    name: str | None = None
    description: str | None = None
    clear_description: bool = False


class ReplaceServerTags(Command):
    server_id: uuid.UUID
    tags: list[str]


class SetServerMetadata(Command):
    server_id: uuid.UUID
    metadata: dict[str, str] = Field(default_factory=dict)
    replace: bool = False  # PUT replaces everything, POST merges
    remove: list[str] = Field(default_factory=list)


class ServerAction(Command):
    server_id: uuid.UUID
    action: Literal["start", "stop", "reboot"]
    hard: bool = False


class DeleteServer(Command):
    server_id: uuid.UUID
    floatingip_ids: list[uuid.UUID] = Field(default_factory=list)
    # Volumes the caller believes attached, freed besides those the server
    # records itself (attached before servers recorded their volumes); each
    # is re-checked on its aggregate in this transaction.
    volume_ids: list[uuid.UUID] = Field(default_factory=list)


def load_server(uow: UnitOfWork, ctx: Context, server_id: uuid.UUID) -> Server:
    server = uow.get(Server, server_id)
    if server is None or (server.project_id != ctx.project_id and not ctx.is_admin):
        raise ServerNotFound(server_id)
    return server


def check_user_data(user_data: str | None) -> None:
    if user_data is None:
        return
    try:
        decoded = base64.b64decode(user_data, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidInput("User data needs to be valid base 64.") from error
    if len(decoded) > MAX_USER_DATA:
        raise InvalidInput(
            f"User data too large. User data must be no larger than {MAX_USER_DATA} bytes once base64 encoded."
        )


def _hosts_of(uow: UnitOfWork, server_ids: list[uuid.UUID]) -> frozenset[str]:
    found = (uow.get(Server, i) for i in server_ids)
    return frozenset(s.host for s in found if s is not None and s.host)


@handler(CreateServer)
def create_server(cmd: CreateServer, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    if not ctx.project_id:
        raise InvalidInput("A project-scoped token is needed to create servers.")
    if cmd.min_count > cmd.max_count:
        raise InvalidInput("min_count must be <= max_count")
    if cmd.max_count > 1 and any(r.port_id or r.fixed_ip for r in cmd.networks):
        raise InvalidInput(
            "Unable to launch multiple instances with a single configured port ID. "
            "Please launch your instance one by one with different ports."
        )
    check_user_data(cmd.user_data)
    try:
        flavor = find_flavor(uow, cmd.flavor_ref)
    except FlavorNotFound as error:
        raise InvalidInput(f"Flavor {cmd.flavor_ref} could not be found.") from error
    if not flavor.usable_by(ctx.project_id, ctx.is_admin):
        raise InvalidInput(f"Flavor {cmd.flavor_ref} could not be found.")
    snapshot = flavor.snapshot()
    # Imported here: the volume commands import this module.
    from commands.volume import boot

    root = next((d for d in cmd.block_devices if d.boot_index == 0), None)
    if root is not None:
        image = boot.check_root(uow, ctx, root)
        # The root disk is a volume: only the memory check applies.
        check_flavor_fits({**snapshot, "disk": 0}, image)
    elif not cmd.image_ref:
        raise InvalidInput(
            "Block Device Mapping is Invalid: Boot sequence for the instance and image/block "
            "device mapping combination is not valid."
        )
    else:
        image = image_facts(uow, cmd.image_ref, ctx)
        check_flavor_fits(snapshot, image)
    boot.check_devices(uow, ctx, cmd.block_devices, cmd.max_count)
    key_data = None
    if cmd.key_name:
        try:
            key_data = find_keypair(uow, ctx.user_id, cmd.key_name).public_key
        except KeypairNotFound as error:
            raise InvalidInput("Invalid key_name provided.") from error
    networking.check_requests(uow, ctx, cmd.networks)
    scheduling.check_zone(uow, cmd.availability_zone)
    same, different = _hosts_of(uow, cmd.same_host), _hosts_of(uow, cmd.different_host)
    reservation_id = "r-" + secrets.token_hex(4)
    servers = []
    for index in range(cmd.max_count):
        server = Server(
            project_id=ctx.project_id,
            user_id=ctx.user_id,
            name=cmd.name if cmd.max_count == 1 else f"{cmd.name}-{index + 1}",
            description=cmd.description,
            flavor=snapshot,
            image_id="" if root is not None else image.id,  # Nova's "" for volume-backed
            key_name=cmd.key_name,
            key_data=key_data,
            user_data=cmd.user_data,
            metadata=cmd.metadata,
            availability_zone=cmd.availability_zone,
            security_groups=cmd.security_group_names,
            tags=cmd.tags,
            reservation_id=reservation_id,
            launch_index=index,
            config_drive=cmd.config_drive,
        )
        uow.add(server)
        servers.append(server)
    placed = []
    for server in servers:
        request = Request(
            server_id=str(server.id),
            resources=server.resources,
            availability_zone=cmd.availability_zone,
            image_properties=image.properties,
            same_host=same,
            different_host=different,
            same_host_required=bool(cmd.same_host),
        )
        host = scheduling.place(uow, deps, request)
        if host is not None:
            placed.append((server, host))
    if len(placed) < cmd.min_count:
        # Nova's all-or-nothing for min_count: give the claims back, fail all.
        for server, host in placed:
            host.release(str(server.id))
        placed = []
    on_host = {server.id for server, _ in placed}
    for server in servers:
        if server.id not in on_host:
            server.fail(NO_VALID_HOST, 500)
    for server, host in placed:
        zone = str(host.inventory.get("availability_zone", "nova"))
        server.schedule(host.hostname, zone)
        server.attach_ports(
            networking.plug(
                uow, ctx, deps, server.id, host.hostname, zone, cmd.networks, cmd.security_group_ids
            )
        )
        if cmd.block_devices:
            boot.attach_devices(uow, ctx, server, host.hostname, cmd.block_devices)
    return {
        "id": servers[0].id,
        "ids": [s.id for s in servers],
        "reservation_id": reservation_id,
    }


@handler(UpdateServer)
def update_server(cmd: UpdateServer, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    load_server(uow, ctx, cmd.server_id).update_details(
        cmd.name, cmd.description, cmd.clear_description
    )
    return {"id": cmd.server_id}


@handler(ReplaceServerTags)
def replace_tags(
    cmd: ReplaceServerTags, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    server = load_server(uow, ctx, cmd.server_id)
    server.set_tags(cmd.tags)
    return {"id": cmd.server_id, "tags": list(server.tags)}


@handler(SetServerMetadata)
def set_metadata(
    cmd: SetServerMetadata, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    server = load_server(uow, ctx, cmd.server_id)
    metadata = dict(cmd.metadata) if cmd.replace else {**server.metadata, **cmd.metadata}
    for key in cmd.remove:
        if metadata.pop(key, None) is None:
            raise MetadataNotFound(key)
    server.set_metadata(metadata)
    return {"id": cmd.server_id, "metadata": dict(server.metadata)}


@handler(ServerAction)
def server_action(cmd: ServerAction, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    server = load_server(uow, ctx, cmd.server_id)
    if cmd.action == "start":
        server.start()
    elif cmd.action == "stop":
        server.stop()
    else:
        server.reboot(cmd.hard)
    return {"id": cmd.server_id}


@handler(DeleteServer)
def delete_server(cmd: DeleteServer, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    """Server, ports and host claim go together; the agent of the host sees the
    server gone from its desired state and removes the guest."""
    server = load_server(uow, ctx, cmd.server_id)
    networking.unplug(uow, server.ports, cmd.floatingip_ids)
    scheduling.release(uow, server.host, str(server.id))
    # Its attachments go in the same transaction, so no volume is left
    # in-use by a server that no longer exists. The server records its
    # volumes with each attach, so an attach that committed just before is
    # among them (one that comes after meets a deleted server). Imported
    # here: the volume commands import this module (for ServerNotFound).
    from commands.volume.attachments import release_for_deleted_server

    recorded = dict(server.volumes)
    for volume_id in sorted(set(recorded) | {str(v) for v in cmd.volume_ids}):
        discard = bool(recorded.get(volume_id, {}).get("delete_on_termination"))
        release_for_deleted_server(uow, uuid.UUID(volume_id), str(server.id), discard)
    # A snapshot in progress has nothing left to read: its image goes too.
    abandon_snapshot(uow, server, "The server was deleted during the snapshot.")
    server.delete()
    return {"id": cmd.server_id}
