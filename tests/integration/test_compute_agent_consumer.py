"""The compute agent's durable JetStream consumer, against a real nats-server,
PostgreSQL, the relay and libvirt's test driver.

The agent's timer is ten minutes and nothing else pokes it, so a server
that becomes ACTIVE after the agent started was woken by a NATS message.
The server is private to this module: every stream captures the same
`strata.events.>` subjects, which JetStream allows for one stream only.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from nats.js.api import ConsumerInfo, SequenceInfo

from commands.compute.keypairs import CreateKeyPair
from commands.compute.networking import NetworkRequest
from commands.compute.servers import CreateServer
from infra.nats_bus import MSG_ID_HEADER, NatsBus
from infra.settings import Settings
from infra.virt.hypervisor import TEST_URI, Hypervisor
from projections.compute.queries import ComputeQueries
from runtime.cloud import Cloud, build_cloud
from runtime.compute_agent import RunningComputeAgent, start_compute_agent
from tests.integration.test_compute_agent_world import needs_libvirt_python
from tests.integration.test_compute_world import ALICE, ComputeWorld, ed25519_public_key
from tests.support.nats_streams import private_nats_server, throwaway_stream
from tests.support.services import NatsProcess
from workers.compute.wakeups import JetStreamWakeups, consumer_name
from workers.relay import start_relay_thread

pytestmark = [pytest.mark.nats, pytest.mark.postgres]
LONG_TIMER = 600.0


@pytest.fixture(scope="module")
def nats_server() -> Iterator[NatsProcess]:
    with private_nats_server() as server:
        yield server


@pytest.fixture
def stream(nats_server: NatsProcess) -> Iterator[str]:
    with throwaway_stream(nats_server.url, "AGENT") as name:
        yield name


def consumer(url: str, stream: str, durable: str) -> ConsumerInfo:
    async def info() -> ConsumerInfo:
        nc = await nats.connect(url)
        try:
            found: ConsumerInfo = await nc.jetstream().consumer_info(stream, durable)
            return found
        finally:
            await nc.close()

    return asyncio.run(info())


def stream_seq(seq: SequenceInfo | None) -> int:
    assert seq is not None and seq.stream_seq is not None
    return seq.stream_seq


def settled(info: ConsumerInfo) -> bool:
    """Everything delivered, everything delivered acked."""
    return not info.num_pending and not info.num_ack_pending


def eventually(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout}s"
        time.sleep(0.05)


@dataclass
class Env:
    cloud: Cloud
    world: ComputeWorld
    url: str
    stream: str
    relay_position: Callable[[], int]

    @property
    def durable(self) -> str:
        return consumer_name(self.cloud.settings.host)

    def agent(self) -> RunningComputeAgent:
        return start_compute_agent(self.cloud, self.url)

    def consumer(self) -> ConsumerInfo:
        return consumer(self.url, self.stream, self.durable)

    def boot(self) -> str:
        world = self.world
        data = b"\0" * 65536
        image_id = world.image(size=len(data))
        (self.cloud.settings.data_dir / "images" / image_id).write_bytes(data)
        world.run(CreateKeyPair(name=f"k-{uuid.uuid4().hex[:6]}", public_key=ed25519_public_key()))
        created = world.run(
            CreateServer(
                name="vm",
                image_ref=image_id,
                flavor_ref=world.flavor(flavorid=uuid.uuid4().hex[:8]),
                networks=[NetworkRequest(network_id=world.network())],
                user_data=base64.b64encode(b"#!/bin/sh\necho hi").decode(),
            ),
            ALICE,
        )
        published = self.cloud.store.max_notification_id()
        eventually(lambda: self.relay_position() >= published, "the relay publishing")
        return str(created["id"])

    def vm_state(self, server_id: str) -> str:
        self.cloud.runner.catch_up_all()
        return str(self.world.server(server_id)["vm_state"])


@pytest.fixture
def env(nats_server: NatsProcess, stream: str, pg_dsn: str, tmp_path: Path) -> Iterator[Env]:
    needs_libvirt_python()
    host = f"node-{uuid.uuid4().hex[:8]}.example"  # a dot: not allowed in a durable name
    settings = Settings(
        data_dir=tmp_path,
        database_url=pg_dsn,
        host=host,
        stream_name=stream,
        compute_driver="test",
        compute_interval=LONG_TIMER,
        compute_vcpus=8,
        compute_memory_mb=8192,
        compute_disk_gb=100,
    )
    (tmp_path / "images").mkdir()
    cloud = build_cloud(settings)
    thread, stop, relay = start_relay_thread(
        settings, cloud.store, cloud.db, NatsBus(nats_server.url, stream)
    )
    cloud.commit_listeners.append(lambda _position: relay.poke())
    world = ComputeWorld(cloud.store, cloud.db, cloud.runner, cloud.bus, ComputeQueries(cloud.db))
    try:
        yield Env(cloud, world, nats_server.url, stream, lambda: relay.position)
    finally:
        stop.set()
        thread.join(10)
        hv = Hypervisor(TEST_URI)
        for domain in hv.domains(host).values():
            hv.remove(domain)
        hv.close()
        cloud.close()


def test_the_consumer_is_durable_and_named_for_the_host(env: Env) -> None:
    agent = env.agent()
    try:
        assert env.durable == f"compute-agent-{env.cloud.settings.host.replace('.', '_')}"
        info = env.consumer()
        assert info.config.durable_name == env.durable
        assert f"durable consumer {env.durable}" in agent.description
    finally:
        agent.stop()


def test_a_server_create_wakes_the_agent_through_nats(env: Env) -> None:
    agent = env.agent()
    try:
        server_id = env.boot()
        eventually(lambda: env.vm_state(server_id) == "active", "the server becoming ACTIVE")
        # Acked after the pass: nothing of it is left outstanding.
        eventually(lambda: settled(env.consumer()), "the acks")
        info = env.consumer()
        assert stream_seq(info.ack_floor) == stream_seq(info.delivered) >= 1
    finally:
        agent.stop()


def test_events_published_while_the_agent_is_down_wait_for_it(env: Env) -> None:
    env.agent().stop()
    server_id = env.boot()
    waiting = env.consumer()
    assert (waiting.num_pending or 0) >= 1, "the durable consumer kept nothing for the agent"
    assert env.vm_state(server_id) == "building"
    agent = env.agent()
    try:
        eventually(lambda: env.vm_state(server_id) == "active", "the server becoming ACTIVE")
        eventually(
            lambda: settled(env.consumer()), "the restarted agent taking and acking what it missed"
        )
        after = stream_seq(env.consumer().ack_floor)
        assert after >= stream_seq(waiting.delivered) + (waiting.num_pending or 0)
    finally:
        agent.stop()


# -- the consumer alone: redelivery -----------------------------------------------------


def publish(url: str, stream: str, subject: str, msg_id: int) -> None:
    async def send() -> None:
        bus = NatsBus(url, stream)
        await bus.start()
        try:
            await bus.publish(subject, b"{}", str(msg_id))
        finally:
            await bus.close()

    asyncio.run(send())


def started(url: str, stream: str, host: str) -> JetStreamWakeups:
    wakeups = JetStreamWakeups(url, stream, host, ack_wait=1.0)
    wakeups.start()
    return wakeups


def test_a_pass_that_never_completed_is_delivered_again(
    nats_server: NatsProcess, stream: str
) -> None:
    url, host = nats_server.url, f"crash-{uuid.uuid4().hex[:6]}"
    first = started(url, stream, host)
    publish(url, stream, "strata.events.compute.server.created", 41)
    first.wait(10)
    batch = first.take()  # a pass starts
    assert batch.position == 41 and len(batch.messages) == 1
    first.stop()  # and dies before it completed: nothing acked
    outstanding = consumer(url, stream, consumer_name(host))
    assert outstanding.num_ack_pending == 1  # delivered, never acked
    second = started(url, stream, host)
    try:
        second.wait(10)
        again = second.take()
        # The same message again: the consumer starts at new messages, and
        # this one was published before the second agent started. (Its
        # delivery count says nothing reliable: the server takes back the
        # count of a redelivery that found the first agent's pull gone.)
        assert again.position == 41
        (message,) = again.messages
        assert message.metadata.sequence.stream == batch.messages[0].metadata.sequence.stream
        second.done(again)
        info = consumer(url, stream, consumer_name(host))
        assert info.num_ack_pending == 0 and info.num_redelivered == 0
    finally:
        second.stop()
    third = started(url, stream, host)  # a completed pass is not delivered again
    try:
        third.wait(2.5)  # longer than ack_wait
        assert third.take().messages == ()
    finally:
        third.stop()


def test_other_services_events_are_acked_without_a_wakeup(
    nats_server: NatsProcess, stream: str
) -> None:
    url, host = nats_server.url, f"quiet-{uuid.uuid4().hex[:6]}"
    wakeups = started(url, stream, host)
    try:
        publish(url, stream, "strata.events.identity.user.created", 7)
        publish(url, stream, "strata.events.compute.server.console_output_recorded", 8)
        publish(url, stream, "strata.events.volume.volume.attachment_connected", 9)
        wakeups.wait(10)
        batch = wakeups.take()
        assert [m.subject for m in batch.messages] == [
            "strata.events.volume.volume.attachment_connected"
        ]
        assert batch.position == 9
        assert (batch.messages[0].headers or {})[MSG_ID_HEADER] == "9"
        wakeups.done(batch)
        eventually(
            lambda: consumer(url, stream, consumer_name(host)).num_ack_pending == 0,
            "every message acked",
        )
    finally:
        wakeups.stop()
