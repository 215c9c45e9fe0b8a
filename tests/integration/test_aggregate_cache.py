"""Commands served from kept copies of what they read.

Two command buses on one database (SQLite and PostgreSQL) stand for two API
processes: each keeps
copies of what its commands read and left unchanged, and every save checks,
under the log's lock, that nothing a command read has moved on. A copy made
stale by the other process costs a retry, never a write on stale state.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

import commands.network  # noqa: F401
from commands.bus import CommandBus, Dependencies
from commands.context import Context
from commands.network.networks import CreateNetwork, CreateSubnet, UpdateNetwork
from commands.network.ports import CreatePort, UpdatePort
from domain.identity.users import User
from domain.network.blocks import AddressBlock
from domain.network.networks import Network
from domain.network.ports import Port
from infra.aggregate_cache import CachedAggregates
from infra.conflicts import StaleRead, moved_aggregate
from infra.database import open_database
from infra.eventstore import EventStore, open_recorder
from infra.settings import Settings
from projections.network.projection import NetworkProjection
from projections.runner import ProjectionRunner
from projections.with_insert import WrittenWithInsert
from tests.integration.test_network_world import ADMIN, ALICE, BOB, NoPasswords, settings_for


def _network(name: str) -> Network:
    return Network(
        id=uuid.uuid4(),
        project_id="p",
        name=name,
        description="",
        admin_state_up=True,
        shared=False,
        external=False,
        mtu=1450,
        port_security_enabled=True,
        segmentation_id=1000,
        tags=[],
    )


META = {"user_id": "u", "project_id": "p", "request_id": "r", "source": "test"}


class Process:
    """What one API process has: its store, kept copies and command bus."""

    def __init__(self, settings: Settings) -> None:
        self.store = EventStore(open_recorder(settings))
        self.db = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
        self.runner = ProjectionRunner(self.db, self.store, [NetworkProjection()])
        self.runner.setup()
        if settings.is_postgres:
            self.store.with_insert = WrittenWithInsert(self.runner)
        self.loads: list[uuid.UUID] = []
        # The version each load started at, by aggregate id and class.
        self.bases: dict[tuple[uuid.UUID, type], int | None] = {}
        load = self.store.get

        def counted(cls: Any, aggregate_id: uuid.UUID, base: Any = None) -> Any:
            self.loads.append(aggregate_id)
            self.bases[aggregate_id, cls] = base.version if base is not None else None
            return load(cls, aggregate_id, base)

        self.store.get = counted  # type: ignore[method-assign]
        self.kept = CachedAggregates(self.store)
        self.bus = CommandBus(
            self.kept, Dependencies(passwords=NoPasswords()), self.runner.wait_for
        )

    def run(self, command: Any, ctx: Context = ALICE) -> Any:
        return self.bus.dispatch(command, ctx).outcome["id"]


@pytest.fixture(params=["sqlite", "postgres"])
def processes(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Process, Process]]:
    settings = settings_for(request.param, tmp_path, request)
    one, two = Process(settings), Process(settings)
    yield one, two
    one.db.close()
    two.db.close()


def _network_with_subnet(process: Process) -> uuid.UUID:
    network_id = process.run(CreateNetwork(name="n"))
    process.run(CreateSubnet(network_id=network_id, cidr="10.0.0.0/16", ip_version=4))
    return network_id  # type: ignore[no-any-return]


def _network_kept_by(process: Process) -> uuid.UUID:
    """A network with a subnet, which `process` keeps: the first port
    creates the project's default group, the second keeps what it read."""
    network_id = _network_with_subnet(process)
    for _ in range(2):
        process.run(CreatePort(network_id=network_id))
    return network_id


def test_what_a_command_read_is_kept_once_a_commit_checked_it(
    processes: tuple[Process, Process],
) -> None:
    one, _ = processes
    network_id = _network_kept_by(one)
    one.loads.clear()
    one.run(CreatePort(network_id=network_id))
    # Only an address block is loaded again: they are written by the ports.
    assert network_id not in one.loads
    assert len(one.loads) == 1, one.loads


def test_a_copy_the_other_process_made_stale_is_not_written_on(
    processes: tuple[Process, Process],
) -> None:
    one, two = processes
    network_id = _network_kept_by(one)
    two.run(UpdateNetwork(network_id=network_id, port_security_enabled=False))
    one.loads.clear()
    port_id = one.run(CreatePort(network_id=network_id))
    # The port follows the network as it is now, not as one kept it.
    port = one.store.get(Port, port_id)
    assert port is not None
    assert port.port_security_enabled is False and port.security_groups == []
    assert network_id in one.loads  # loaded afresh after the stale read
    one.loads.clear()
    one.run(CreatePort(network_id=network_id))
    assert network_id not in one.loads  # and kept again


def test_a_refusal_resting_on_a_stale_copy_is_tried_again_on_what_is_there(
    processes: tuple[Process, Process],
) -> None:
    one, two = processes
    network_id = _network_kept_by(one)  # alice's
    two.run(UpdateNetwork(network_id=network_id, shared=True), ADMIN)
    # Kept as it was, the network is alice's alone and bob would be told
    # it does not exist; it is shared now.
    assert one.run(CreatePort(network_id=network_id), BOB)


def test_a_write_on_a_stale_copy_is_tried_again_on_what_is_there(
    processes: tuple[Process, Process],
) -> None:
    one, two = processes
    network_id = _network_kept_by(one)
    two.run(UpdateNetwork(network_id=network_id, name="by two"))
    # One's copy is a version behind: its write loses the race once, then
    # the command runs on the network as two left it.
    one.run(UpdateNetwork(network_id=network_id, description="by one"))
    network = one.store.get(Network, network_id)
    assert network is not None
    assert (network.name, network.description) == ("by two", "by one")


def test_what_a_command_wrote_is_loaded_afresh(processes: tuple[Process, Process]) -> None:
    one, _ = processes
    network_id = _network_with_subnet(one)
    port_id = one.run(CreatePort(network_id=network_id))
    one.run(UpdatePort(port_id=port_id, name="a"))
    one.loads.clear()
    one.run(UpdatePort(port_id=port_id, name="b"))
    assert port_id in one.loads


def test_a_load_starts_from_the_state_this_process_last_had(
    processes: tuple[Process, Process],
) -> None:
    one, two = processes
    network_id = one.run(CreateNetwork(name="n"))
    one.run(CreateSubnet(network_id=network_id, cidr="10.0.0.0/28", ip_version=4))
    first = one.run(CreatePort(network_id=network_id))  # one block: one writes it
    second = two.run(CreatePort(network_id=network_id))  # and two, after it
    one.bases.clear()
    third = one.run(CreatePort(network_id=network_id))
    (block_id,) = [i for i, cls in one.bases if cls is AddressBlock]
    # One's load of the block started where one's own write left it, before
    # two's allocation and the third port's; replaying two's, the third port
    # took an address of its own.
    started_at = one.bases[block_id, AddressBlock]
    block = one.store.get(AddressBlock, block_id)
    assert block is not None and started_at == block.version - 2
    addresses = {
        one.store.get(Port, p).fixed_ips[0]["ip_address"]  # type: ignore[union-attr]
        for p in (first, second, third)
    }
    assert len(addresses) == 3


def test_a_handler_that_changed_its_copy_and_failed_leaves_the_kept_one(
    processes: tuple[Process, Process],
) -> None:
    one, _ = processes
    network_id = _network_with_subnet(one)
    one.run(CreatePort(network_id=network_id))
    copy = one.kept.get(Network, network_id)
    assert copy is not None
    copy.name = "changed in memory only"
    again = one.kept.get(Network, network_id)
    assert again is not None and again.name == "n" and again is not copy


def test_people_are_never_kept(processes: tuple[Process, Process]) -> None:
    one, _ = processes
    user = User(uuid.uuid4(), "alice", True, "", "a@example.com", None, None, {})
    one.store.save([user], META)
    for name in ("a", "b"):
        read = one.kept.get(User, user.id)
        assert read is not None
        one.kept.save([_network(name)], META, [read])
    assert one.loads == [user.id, user.id]


def test_a_save_whose_read_moved_on_writes_nothing(processes: tuple[Process, Process]) -> None:
    one, two = processes
    network = _network("n")
    one.store.save([network], META)
    moved = two.store.get(Network, network.id)
    assert moved is not None
    moved.update(name="moved")
    two.store.save([moved], META)
    head = one.store.max_notification_id()
    ways = (one.store.with_insert, None) if one.store.inserts_with_others else (None,)
    for with_insert in ways:  # on PostgreSQL: in one message, and alone
        if one.store.inserts_with_others:
            one.store.with_insert = with_insert
        other = _network("other")
        with pytest.raises(StaleRead) as raised:
            one.store.save([other], META, [network])
        assert moved_aggregate(raised.value) == network.id
        assert one.store.max_notification_id() == head
        assert one.store.get(Network, other.id) is None
    assert one.store.save([_network("other")], META, [moved])


def test_a_lost_version_race_names_the_aggregate(processes: tuple[Process, Process]) -> None:
    one, two = processes
    if not one.store.inserts_with_others:
        pytest.skip("SQLite's message does not name the row")
    network = _network("n")
    one.store.save([network], META)
    first, second = one.store.get(Network, network.id), two.store.get(Network, network.id)
    assert first is not None and second is not None
    first.update(name="first")
    second.update(name="second")
    one.store.save([first], META)
    with pytest.raises(IntegrityError) as raised:
        two.store.save([second], META)
    assert moved_aggregate(raised.value) == network.id
