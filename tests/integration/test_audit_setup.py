"""A small cloud for the audit, events and webhook tests: an admin and two
tenants (alice in project A, bob in project B), each with a real token.

Built with the real composition root (`build_cloud` + `bootstrap`), so the
tests exercise the projections and the app exactly as `strata up` wires them.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
import uvicorn

from commands.context import Context
from commands.identity.people import CreateUser
from commands.identity.roles import CreateRole, GrantRole
from commands.identity.tenancy import CreateDomain, CreateProject, UpdateProject
from domain.identity.ids import DEFAULT_DOMAIN_ID
from infra.settings import Settings
from projections.identity.queries import select
from runtime.cloud import Cloud, build_cloud
from runtime.history import events_app

ADMIN_PASSWORD = "admin-secret-pw"
ROLES = ("reader", "member", "admin")
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@dataclass
class Tenant:
    user_id: str
    project_id: str
    token: str
    roles: frozenset[str]

    def ctx(self, request_id: str = "") -> Context:
        return Context(
            user_id=self.user_id,
            project_id=self.project_id,
            roles=self.roles,
            request_id=request_id,
            source="test",
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token}


@dataclass
class World:
    cloud: Cloud
    admin: Tenant
    alice: Tenant
    bob: Tenant
    app: Any
    url: str = ""

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def project(self, who: Tenant, name: str, request_id: str = "") -> UUID:
        """A project owned (as audit sees it) by itself, created by `who`."""
        command = CreateProject(domain_id=DEFAULT_DOMAIN_ID, name=name)
        result = self.cloud.bus.dispatch(command, who.ctx(request_id))
        return UUID(str(result.outcome["id"]))

    def rename(self, who: Tenant, project: UUID, description: str) -> None:
        command = UpdateProject(project_id=project, description=description)
        self.cloud.bus.dispatch(command, who.ctx())


def _token(cloud: Cloud, name: str, password: str, project_id: str) -> str:
    auth = {
        "identity": {
            "methods": ["password"],
            "password": {"user": {"name": name, "domain": {"id": "default"}, "password": password}},
        },
        "scope": {"project": {"id": project_id}},
    }
    token, _ = cloud.authenticator.authenticate(auth)
    return token


def _member(cloud: Cloud, name: str, project: UUID) -> Tenant:
    system = Context(roles=frozenset({"admin"}))
    user = cloud.bus.dispatch(
        CreateUser(domain_id=DEFAULT_DOMAIN_ID, name=name, password=f"{name}-pw"), system
    ).outcome["id"]
    member = select(cloud.db, "roles", {"name": "member", "domain_id": None})[0]["id"]
    cloud.bus.dispatch(
        GrantRole(
            actor_type="user",
            actor_id=user,
            target_type="project",
            target_id=project,
            role_id=UUID(member),
        ),
        system,
    )
    token = _token(cloud, name, f"{name}-pw", project.hex)
    return Tenant(user.hex, project.hex, token, frozenset({"member"}))


def _bootstrap(cloud: Cloud) -> Tenant:
    """The admin, its project and the roles; `runtime.bootstrap` also adds a
    catalog these tests do not need (and it orders role implications by a
    column they lack, which PostgreSQL refuses)."""
    system = Context(roles=frozenset({"admin"}))
    bus = cloud.bus
    bus.dispatch(CreateDomain(name="Default", default=True), system)
    roles = {name: bus.dispatch(CreateRole(name=name), system).outcome["id"] for name in ROLES}
    project = bus.dispatch(CreateProject(domain_id=DEFAULT_DOMAIN_ID, name="admin"), system)
    project_id = project.outcome["id"]
    user = bus.dispatch(
        CreateUser(domain_id=DEFAULT_DOMAIN_ID, name="admin", password=ADMIN_PASSWORD), system
    ).outcome["id"]
    bus.dispatch(
        GrantRole(
            actor_type="user",
            actor_id=user,
            target_type="project",
            target_id=project_id,
            role_id=roles["admin"],
        ),
        system,
    )
    token = _token(cloud, "admin", ADMIN_PASSWORD, project_id.hex)
    return Tenant(user.hex, project_id.hex, token, frozenset({"admin"}))


def make_world(settings: Settings) -> World:
    cloud = build_cloud(settings)
    admin = _bootstrap(cloud)
    system = Context(roles=frozenset({"admin"}))
    project_a = UUID(
        str(
            cloud.bus.dispatch(
                CreateProject(domain_id=DEFAULT_DOMAIN_ID, name="A"), system
            ).outcome["id"]
        )
    )
    project_b = UUID(
        str(
            cloud.bus.dispatch(
                CreateProject(domain_id=DEFAULT_DOMAIN_ID, name="B"), system
            ).outcome["id"]
        )
    )
    alice = _member(cloud, "alice", project_a)
    bob = _member(cloud, "bob", project_b)
    return World(cloud, admin, alice, bob, events_app(cloud))


def settings_for(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    if backend == "postgres":
        return Settings(data_dir=tmp_path, database_url=request.getfixturevalue("pg_dsn"))
    return Settings(data_dir=tmp_path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """The app under a real uvicorn on a free port, in a thread; its URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def running_world(settings: Settings) -> Iterator[World]:
    built = make_world(settings)
    try:
        with serving(built.app) as url:
            built.url = url
            yield built
    finally:
        built.cloud.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with running_world(Settings(data_dir=tmp_path)) as built:
        yield built


def test_the_events_service_answers_every_caller_and_refuses_strangers(world: World) -> None:
    with world.client() as client:
        for who in (world.admin, world.alice, world.bob):
            assert client.get("/v1/audit", headers=who.headers).status_code == 200
        refused = client.get("/v1/audit")
        assert refused.status_code == 401
        assert set(refused.json()["error"]) == {"code", "title", "message"}
        bad = client.get("/v1/audit", headers={"X-Auth-Token": "garbage"})
        assert bad.status_code == 401
