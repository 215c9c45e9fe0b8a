"""Shared setup of the compute API tests (no tests here): the compute app of a
cloud built by the real composition root, served by uvicorn, with real tokens,
a registered host, an active image, a flavor and a network for Alice."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import httpx

from commands.compute.agent import RegisterHost
from commands.context import Context
from commands.identity.people import CreateUser
from commands.identity.roles import GrantRole
from commands.identity.tenancy import CreateProject
from commands.image.images import CreateImage
from commands.image.uploads import FinishUpload, StartUpload
from commands.network.networks import CreateNetwork, CreateSubnet
from domain.identity.ids import DEFAULT_DOMAIN_ID
from infra.settings import Settings
from projections.identity.queries import select
from runtime import registry
from runtime.bootstrap import bootstrap
from runtime.cloud import Cloud, build_cloud
from tests.integration.test_network_http import Api, serving

SYSTEM = Context(roles=frozenset({"admin"}))


@dataclass
class Member:
    api: Api
    user_id: str
    project_id: str
    ctx: Context


@dataclass
class ComputeEnv:
    cloud: Cloud
    admin: Member
    alice: Member
    bob: Member
    image_id: str
    network_id: str
    client: httpx.Client


def _token(cloud: Cloud, user: str, password: str, project: str) -> str:
    auth = {
        "identity": {
            "methods": ["password"],
            "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}},
        },
        "scope": {"project": {"id": project}},
    }
    return cloud.authenticator.authenticate(auth)[0]


def _member(cloud: Cloud, client: httpx.Client, name: str) -> Member:
    project_id = cloud.bus.dispatch(
        CreateProject(domain_id=DEFAULT_DOMAIN_ID, name=name), SYSTEM
    ).outcome["id"]
    user = cloud.bus.dispatch(
        CreateUser(domain_id=DEFAULT_DOMAIN_ID, name=name, password="pw-" + name), SYSTEM
    ).outcome["id"]
    role = select(cloud.db, "roles", {"name": "member", "domain_id": None})[0]["id"]
    grant = GrantRole(
        actor_type="user",
        actor_id=user,
        target_type="project",
        target_id=project_id,
        role_id=UUID(role),
    )
    cloud.bus.dispatch(grant, SYSTEM)
    token = _token(cloud, name, "pw-" + name, project_id.hex)
    ctx = Context(user_id=user.hex, project_id=project_id.hex, roles=frozenset({"member"}))
    return Member(Api(client, token), user.hex, project_id.hex, ctx)


def active_image(cloud: Cloud, ctx: Context, size: int = 1 << 20, **props: str) -> str:
    image_id = cloud.bus.dispatch(
        CreateImage(
            name="cirros",
            visibility="public",
            disk_format="qcow2",
            container_format="bare",
            properties=props,
        ),
        ctx,
    ).outcome["id"]
    cloud.bus.dispatch(StartUpload(image_id=image_id), ctx)
    finish = FinishUpload(
        image_id=image_id,
        size=size,
        virtual_size=None,
        checksum=hashlib.md5(b"x").hexdigest(),
        os_hash_algo="sha512",
        os_hash_value=hashlib.sha512(b"x").hexdigest(),
    )
    cloud.bus.dispatch(finish, ctx)
    return str(image_id)


def compute_env(data_dir: Path) -> Iterator[ComputeEnv]:
    cloud = build_cloud(Settings(data_dir=data_dir))
    result = bootstrap(cloud, "admin-pw")
    admin_token = _token(cloud, "admin", "admin-pw", result.admin_project_id)
    admin_ctx = Context(
        user_id=result.admin_user_id,
        project_id=result.admin_project_id,
        roles=frozenset({"admin", "member", "reader"}),
    )
    cloud.bus.dispatch(RegisterHost(hostname="node-1", vcpus=4, memory_mb=4096, disk_gb=40), SYSTEM)
    app = registry.APPS["compute"](cloud)
    with serving(app) as url, httpx.Client(base_url=url) as client:
        alice, bob = _member(cloud, client, "alice"), _member(cloud, client, "bob")
        net = cloud.bus.dispatch(CreateNetwork(name="alice-net"), alice.ctx).outcome["id"]
        cloud.bus.dispatch(CreateSubnet(network_id=net, cidr="10.1.0.0/24"), alice.ctx)
        yield ComputeEnv(
            cloud=cloud,
            admin=Member(
                Api(client, admin_token), result.admin_user_id, result.admin_project_id, admin_ctx
            ),
            alice=alice,
            bob=bob,
            image_id=active_image(cloud, admin_ctx),
            network_id=str(net),
            client=client,
        )
    cloud.close()


def new_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"
