"""The metadata API (api/metadata) over HTTP, on PostgreSQL, and the relay and
proxy processes in front of it (without namespaces: those are the e2e test's).

A world with Alice's server on a routed network and Bob's on an isolated one;
requests carry the identity a proxy would add, signed as the relay signs it.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from commands.compute.agent import RegisterHost
from commands.context import Context
from commands.network.networks import CreateNetwork, CreateSubnet
from commands.network.routers import AddRouterInterface, CreateRouter
from infra.metadata_signing import (
    FORWARDED_FOR,
    NETWORK_ID,
    ROUTER_ID,
    SIGNATURE,
    Identity,
    sign,
)
from infra.net.metadata_process import MetadataProcess
from infra.settings import Settings
from projections.network.queries import NetworkQueries
from runtime import registry
from runtime.bootstrap import bootstrap
from runtime.cloud import Cloud, build_cloud
from tests.e2e.cloud import free_port
from tests.integration.test_compute_http import SYSTEM, Member, _member, _token, active_image
from tests.integration.test_compute_world import ed25519_public_key
from tests.integration.test_network_http import Api, serving
from tests.support.services import database_name, drop_database, fresh_database
from workers.network.metadata import Relay, relay_socket

pytestmark = pytest.mark.postgres

SECRET = "metadata-test-secret"
USER_DATA = b"#!/bin/sh\necho hello from user data\n"


@dataclass
class Guest:
    server: dict[str, Any]
    address: str
    network_id: str


@dataclass
class World:
    cloud: Cloud
    url: str  # the metadata API
    client: httpx.Client
    alice: Guest  # key, user data, metadata; network behind a router
    bob: Guest  # nothing optional; isolated network
    router_id: str
    key: str


def _server(cloud: Cloud, member: Member, image: str, flavor: str, **fields: Any) -> Guest:
    body = {"name": f"vm-{uuid.uuid4().hex[:6]}", "imageRef": image, "flavorRef": flavor}
    server = member.api.ok("POST", "/v2.1/servers", {"server": {**body, **fields}}, status=202)
    server_id = server["server"]["id"]
    ports = NetworkQueries(cloud.db).select("ports", None, {"device_id": [server_id]})
    shown = member.api.ok("GET", f"/v2.1/servers/{server_id}")["server"]
    return Guest(shown, ports[0]["fixed_ips"][0]["ip_address"], ports[0]["network_id"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, pg_admin_dsn: str) -> Iterator[World]:
    dsn = fresh_database(pg_admin_dsn, "strata_metadata")
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("metadata"), database_url=dsn, metadata_secret=SECRET
    )
    cloud = build_cloud(settings)
    result = bootstrap(cloud, "admin-pw")
    admin_ctx = Context(
        user_id=result.admin_user_id,
        project_id=result.admin_project_id,
        roles=frozenset({"admin", "member", "reader"}),
    )
    cloud.bus.dispatch(RegisterHost(hostname="node-1", vcpus=4, memory_mb=4096, disk_gb=40), SYSTEM)
    compute, metadata = registry.APPS["compute"](cloud), registry.APPS["metadata"](cloud)
    with (
        serving(compute) as compute_url,
        serving(metadata) as url,
        httpx.Client(base_url=compute_url) as compute_client,
        httpx.Client(base_url=url) as client,
    ):
        admin = Api(compute_client, _token(cloud, "admin", "admin-pw", result.admin_project_id))
        flavor = {"name": "m1.meta", "vcpus": 1, "ram": 256, "disk": 1}
        flavor_id = admin.ok("POST", "/v2.1/flavors", {"flavor": flavor})["flavor"]["id"]
        image = active_image(cloud, admin_ctx)
        alice, bob = _member(cloud, compute_client, "alice"), _member(cloud, compute_client, "bob")
        routed = cloud.bus.dispatch(CreateNetwork(name="routed"), alice.ctx).outcome["id"]
        subnet = cloud.bus.dispatch(
            CreateSubnet(network_id=routed, cidr="10.61.0.0/24", dns_nameservers=["10.61.0.53"]),
            alice.ctx,
        ).outcome["id"]
        router = cloud.bus.dispatch(CreateRouter(name="edge"), alice.ctx).outcome["id"]
        cloud.bus.dispatch(AddRouterInterface(router_id=router, subnet_id=subnet), alice.ctx)
        isolated = cloud.bus.dispatch(CreateNetwork(name="isolated"), bob.ctx).outcome["id"]
        cloud.bus.dispatch(CreateSubnet(network_id=isolated, cidr="10.62.0.0/24"), bob.ctx)
        key = ed25519_public_key()
        keypair = {"keypair": {"name": "alice-key", "public_key": key}}
        alice.api.ok("POST", "/v2.1/os-keypairs", keypair)
        alice_guest = _server(
            cloud,
            alice,
            image,
            flavor_id,
            networks=[{"uuid": str(routed)}],
            key_name="alice-key",
            user_data=base64.b64encode(USER_DATA).decode(),
            metadata={"role": "web"},
            availability_zone="nova",
        )
        bob_guest = _server(cloud, bob, image, flavor_id, networks=[{"uuid": str(isolated)}])
        yield World(cloud, url, client, alice_guest, bob_guest, str(router), key)
    cloud.close()
    drop_database(pg_admin_dsn, database_name(dsn))


def headers(address: str, kind: str, resource_id: str, secret: str = SECRET) -> dict[str, str]:
    """What a proxy adds and the relay signs."""
    who = Identity(address, kind, resource_id)
    name = ROUTER_ID if kind == "router" else NETWORK_ID
    return {FORWARDED_FOR: address, name: resource_id, SIGNATURE: sign(secret, who)}


def as_alice(world: World) -> dict[str, str]:
    return headers(world.alice.address, "router", world.router_id)


def as_bob(world: World) -> dict[str, str]:
    return headers(world.bob.address, "network", world.bob.network_id)


def get(world: World, path: str, who: dict[str, str]) -> httpx.Response:
    return world.client.get(path, headers=who)


def test_openstack_meta_data_is_the_servers(world: World) -> None:
    alice = world.alice
    listing = get(world, "/openstack", as_alice(world)).text.split("\n")
    assert listing[0] == "2012-08-10" and listing[-1] == "latest" and "2016-06-30" in listing
    files = get(world, "/openstack/latest/", as_alice(world)).text.split("\n")
    assert set(files) == {
        "meta_data.json",
        "user_data",
        "vendor_data.json",
        "network_data.json",
        "vendor_data2.json",
    }
    response = get(world, "/openstack/latest/meta_data.json", as_alice(world))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    meta = response.json()
    assert meta["uuid"] == alice.server["id"]
    assert meta["name"] == alice.server["name"]
    assert meta["hostname"] == f"{alice.server['name']}.novalocal"
    assert meta["availability_zone"] == "nova"
    assert meta["project_id"] == alice.server["tenant_id"]
    assert meta["launch_index"] == 0
    assert meta["public_keys"] == {"alice-key": world.key}
    assert meta["keys"] == [{"name": "alice-key", "type": "ssh", "data": world.key}]
    assert meta["meta"] == {"role": "web"}
    assert meta["devices"] == []
    assert len(base64.b64decode(meta["random_seed"])) == 512
    user_data = get(world, "/openstack/latest/user_data", as_alice(world))
    assert user_data.content == USER_DATA
    assert get(world, "/openstack/latest/vendor_data.json", as_alice(world)).json() == {}


def test_dated_versions_show_what_existed_then(world: World) -> None:
    folsom = get(world, "/openstack/2012-08-10/meta_data.json", as_alice(world)).json()
    assert folsom["uuid"] == world.alice.server["id"]
    assert "project_id" not in folsom and "random_seed" not in folsom and "devices" not in folsom
    assert get(world, "/openstack/2012-08-10", as_alice(world)).text == "meta_data.json\nuser_data"
    liberty = get(world, "/openstack/2015-10-15/meta_data.json", as_alice(world)).json()
    assert liberty["project_id"] == world.alice.server["tenant_id"] and "devices" not in liberty
    assert get(world, "/openstack/2012-08-10/network_data.json", as_alice(world)).status_code == 404
    assert get(world, "/openstack/2031-01-01/meta_data.json", as_alice(world)).status_code == 404


def test_network_data_describes_the_port(world: World) -> None:
    doc = get(world, "/openstack/latest/network_data.json", as_alice(world)).json()
    port = NetworkQueries(world.cloud.db).select(
        "ports", None, {"device_id": [world.alice.server["id"]]}
    )[0]
    assert doc["links"] == [
        {
            "id": "tap" + port["id"][:11],
            "vif_id": port["id"],
            "type": "phy",  # not bound: no agent runs here
            "mtu": 1450,
            "ethernet_mac_address": port["mac_address"],
        }
    ]
    assert doc["networks"] == [
        {
            "id": "network0",
            "type": "ipv4_dhcp",
            "link": "tap" + port["id"][:11],
            "network_id": world.alice.network_id,
        }
    ]
    assert doc["services"] == [{"type": "dns", "address": "10.61.0.53"}]


def test_ec2_paths(world: World) -> None:
    alice = world.alice
    assert world.client.get("/").text.split("\n")[-2:] == ["2009-04-04", "latest"]
    listing = get(world, "/latest/meta-data/", as_alice(world)).text.split("\n")
    for entry in ("instance-id", "hostname", "local-ipv4", "public-keys/", "placement/"):
        assert entry in listing
    instance_id = get(world, "/latest/meta-data/instance-id", as_alice(world)).text
    assert instance_id == "i-" + uuid.UUID(alice.server["id"]).hex[:8]
    assert get(world, "/2009-04-04/meta-data/instance-id", as_alice(world)).text == instance_id
    hostname = get(world, "/latest/meta-data/hostname", as_alice(world)).text
    assert hostname == f"{alice.server['name']}.novalocal"
    assert get(world, "/latest/meta-data/local-ipv4", as_alice(world)).text == alice.address
    assert get(world, "/latest/meta-data/public-keys/", as_alice(world)).text == "0=alice-key"
    assert get(world, "/latest/meta-data/public-keys/0/", as_alice(world)).text == "openssh-key"
    key = get(world, "/latest/meta-data/public-keys/0/openssh-key", as_alice(world)).text
    assert key == world.key
    zone = get(world, "/latest/meta-data/placement/availability-zone", as_alice(world))
    assert zone.text == "nova"
    assert get(world, "/latest/meta-data/instance-type", as_alice(world)).text == "m1.meta"
    assert get(world, "/latest/user-data", as_alice(world)).content == USER_DATA
    assert get(world, "/latest/meta-data/no-such-thing", as_alice(world)).status_code == 404
    assert get(world, "/1999-01-01/meta-data/", as_alice(world)).status_code == 404


def test_a_server_without_key_or_user_data(world: World) -> None:
    bob = world.bob
    meta = get(world, "/openstack/latest/meta_data.json", as_bob(world)).json()
    assert meta["uuid"] == bob.server["id"]
    assert "public_keys" not in meta and "keys" not in meta and "meta" not in meta
    assert "user_data" not in get(world, "/openstack/latest", as_bob(world)).text
    assert get(world, "/openstack/latest/user_data", as_bob(world)).status_code == 404
    missing = get(world, "/latest/user-data", as_bob(world))
    assert missing.status_code == 404 and missing.text.startswith("404 Not Found")
    assert get(world, "/latest/meta-data/public-keys/", as_bob(world)).status_code == 404
    assert "public-keys/" not in get(world, "/latest/meta-data/", as_bob(world)).text


def test_identity_resolution(world: World) -> None:
    alice, bob = world.alice, world.bob
    # Alice's port is reached through its network as well as its router.
    via_network = headers(alice.address, "network", alice.network_id)
    assert get(world, "/latest/meta-data/instance-id", via_network).status_code == 200
    # The same address seen from another network or router is nobody.
    elsewhere = headers(alice.address, "network", bob.network_id)
    assert get(world, "/openstack/latest/meta_data.json", elsewhere).status_code == 404
    foreign_router = headers(alice.address, "router", str(uuid.uuid4()))
    assert get(world, "/openstack/latest/meta_data.json", foreign_router).status_code == 404
    unknown = headers("10.61.0.250", "router", world.router_id)
    response = get(world, "/openstack/latest/meta_data.json", unknown)
    assert response.status_code == 404 and "could not be found" in response.text
    # The router's own interface address is no instance.
    gateway = headers("10.61.0.1", "router", world.router_id)
    assert get(world, "/latest/meta-data/instance-id", gateway).status_code == 404


def test_missing_and_forged_headers(world: World) -> None:
    alice = world.alice
    path = "/openstack/latest/meta_data.json"
    assert world.client.get(path).status_code == 400
    signed = as_alice(world)
    without_router = {k: v for k, v in signed.items() if k != ROUTER_ID}
    assert get(world, path, without_router).status_code == 400
    both = {**signed, NETWORK_ID: alice.network_id}
    assert get(world, path, both).status_code == 400
    not_an_ip = headers("alice", "router", world.router_id)
    assert get(world, path, not_an_ip).status_code == 400
    unsigned = {k: v for k, v in signed.items() if k != SIGNATURE}
    forbidden = get(world, path, unsigned)
    assert forbidden.status_code == 403 and "signature" in forbidden.text
    # A tenant who knows Alice's address but not the secret.
    forged = headers(alice.address, "router", world.router_id, secret="guessed")
    assert get(world, path, forged).status_code == 403
    # A valid signature does not carry over to another address.
    replayed = {**as_bob(world), FORWARDED_FOR: alice.address}
    assert get(world, path, replayed).status_code == 403
    twice = [(k, v) for k, v in signed.items()] + [(FORWARDED_FOR, world.bob.address)]
    assert world.client.get(path, headers=twice).status_code == 400
    assert world.client.post(path, headers=signed).status_code == 405


@pytest.fixture
def relay(world: World, tmp_path: Path) -> Iterator[Path]:
    """The host-side relay, signing for the metadata API under test."""
    running = Relay(tmp_path, world.url, SECRET)
    assert running.ensure()
    try:
        yield relay_socket(tmp_path)
    finally:
        running.stop()


def test_relay_signs_what_a_proxy_sends(world: World, relay: Path) -> None:
    transport = httpx.HTTPTransport(uds=str(relay))
    with httpx.Client(transport=transport, base_url="http://169.254.169.254") as client:
        identity = {FORWARDED_FOR: world.alice.address, ROUTER_ID: world.router_id}
        meta = client.get("/openstack/latest/meta_data.json", headers=identity)
        assert meta.status_code == 200 and meta.json()["uuid"] == world.alice.server["id"]
        assert client.get("/latest/meta-data/").status_code == 400  # no proxy identity


def test_relay_restarts_when_gone_and_not_otherwise(world: World, tmp_path: Path) -> None:
    running = Relay(tmp_path, world.url, SECRET)
    process = MetadataProcess(tmp_path / "metadata" / "relay")
    try:
        assert running.ensure()
        first = process.pid()
        assert first is not None and not running.ensure()
        process.stop()
        assert process.pid() is None and running.ensure()
        assert process.pid() not in (None, first)
    finally:
        running.stop()


def test_the_proxy_replaces_identity_a_client_sends(world: World, relay: Path) -> None:
    """A proxy (here on loopback, not in a namespace) overwrites forged headers:
    asking as Alice from 127.0.0.1 finds nobody instead of Alice's data."""
    port = free_port()
    argv = [sys.executable, "-m", "infra.net.metadata_proxy", "proxy"]
    argv += ["--listen", f"127.0.0.1:{port}", "--upstream-socket", str(relay)]
    argv += ["--network-id", world.alice.network_id, "--foreground"]
    argv += ["--pid-file", str(relay.parent / "proxy.pid"), "--log-file", "/dev/null"]
    proxy = subprocess.Popen(argv)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                forged = {**as_alice(world), NETWORK_ID: world.alice.network_id}
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/openstack/latest/meta_data.json", headers=forged
                )
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "the proxy did not start"
                time.sleep(0.05)
        assert answer.status_code == 404, answer.text
        assert world.alice.server["id"] not in answer.text
    finally:
        proxy.terminate()
        proxy.wait(10)
