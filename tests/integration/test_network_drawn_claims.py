"""Random MACs and VNIs are claimed without a lookup, on SQLite and PostgreSQL:
a key that turns out to be taken costs a retry, never a shared MAC or VNI.

The draws are steered (the random source replaced by a fixed sequence) so
that a taken key really is drawn; the store, projections and bus are real.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

import commands.network.networks as networks_module
import commands.network.support as support_module
from commands.network.bulk import CreateMany
from commands.network.networks import CreateNetwork, CreateSubnet
from commands.network.ports import CreatePort
from domain.network.networks import VNI_MAX, VNI_MIN
from tests.integration.test_network_world import ADMIN, NetWorld, make_world, settings_for

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NetWorld]:
    yield from make_world(settings_for(request.param, tmp_path, request))


def _draws(monkeypatch: pytest.MonkeyPatch, *values: bytes) -> None:
    """The next MACs drawn end in these octets, in order (then random again)."""
    queue = list(values)
    real = secrets.token_bytes

    def token_bytes(n: int) -> bytes:
        return queue.pop(0) if queue else real(n)

    # Only the MAC draws: the support module's own reference to `secrets`.
    monkeypatch.setattr(support_module, "secrets", SimpleNamespace(token_bytes=token_bytes))


def _port(world: NetWorld, network: uuid.UUID) -> dict[str, str]:
    return world.doc("ports", world.run(CreatePort(network_id=network))["id"])


def _network(world: NetWorld) -> uuid.UUID:
    net: uuid.UUID = world.run(CreateNetwork(name="n"))["id"]
    world.run(CreateSubnet(network_id=net, cidr="10.0.0.0/24"))
    return net


def test_a_drawn_mac_already_taken_is_drawn_again(
    world: NetWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = _network(world)
    _draws(monkeypatch, b"\x01\x02\x03")
    first = _port(world, net)
    assert first["mac_address"] == "fa:16:3e:01:02:03"
    _draws(monkeypatch, b"\x01\x02\x03", b"\x0a\x0b\x0c")  # the same again, then another
    second = _port(world, net)
    assert second["mac_address"] == "fa:16:3e:0a:0b:0c"
    assert world.doc("ports", first["id"])["mac_address"] == "fa:16:3e:01:02:03"


def test_a_bulk_never_gives_two_ports_one_mac(
    world: NetWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = _network(world)
    _draws(monkeypatch, b"\x01\x02\x03", b"\x01\x02\x03", b"\x04\x05\x06")
    ids = world.run(CreateMany(items=[CreatePort(network_id=net), CreatePort(network_id=net)]))
    macs = [world.doc("ports", i)["mac_address"] for i in ids["ids"]]
    assert macs == ["fa:16:3e:01:02:03", "fa:16:3e:04:05:06"]


def _vni_of(network_id: uuid.UUID) -> int:
    return VNI_MIN + network_id.int % (VNI_MAX - VNI_MIN + 1)


def test_a_drawn_vni_already_taken_is_not_shared(
    world: NetWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    unlucky, lucky = uuid.uuid4(), uuid.uuid4()
    taken = world.run(CreateNetwork(name="first", segmentation_id=_vni_of(unlucky)), ADMIN)
    ids = iter([unlucky, lucky])
    # The network ids the handler draws (and so where its VNI search starts).
    monkeypatch.setattr(
        networks_module, "uuid", SimpleNamespace(uuid4=lambda: next(ids), UUID=uuid.UUID)
    )
    created = world.run(CreateNetwork(name="second"))
    assert created["id"] == lucky  # the first try collided and was run again
    vnis = [world.doc("networks", n)["provider:segmentation_id"] for n in (taken["id"], lucky)]
    assert vnis == [_vni_of(unlucky), _vni_of(lucky)]


def test_a_bulk_of_networks_gets_distinct_vnis(world: NetWorld) -> None:
    ids = world.run(CreateMany(items=[CreateNetwork(name=f"n{i}") for i in range(20)]))["ids"]
    vnis = [world.doc("networks", i)["provider:segmentation_id"] for i in ids]
    assert len(set(vnis)) == 20
