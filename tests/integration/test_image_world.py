"""Shared setup of the image API tests (no tests here): a cloud built by the
real composition root on SQLite or PostgreSQL, its image app under a real
uvicorn, and tokens for an admin and members of two projects."""

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
from commands.identity.roles import GrantRole
from commands.identity.tenancy import CreateProject
from domain.identity.ids import DEFAULT_DOMAIN_ID
from infra.settings import Settings
from projections.identity.queries import select
from runtime import registry
from runtime.bootstrap import bootstrap
from runtime.cloud import Cloud, build_cloud

SYSTEM = Context(roles=frozenset({"admin"}))
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


class Api:
    """One user's HTTP client: `api("GET", path)` → (status, JSON or None)."""

    def __init__(self, client: httpx.Client, token: str, project_id: str) -> None:
        self.client, self.token, self.project_id = client, token, project_id

    def raw(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"X-Auth-Token": self.token, **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)

    def __call__(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
        response = self.raw(method, path, json=body, headers=headers)
        data = response.json() if response.content else None
        return response.status_code, data

    def ok(self, method: str, path: str, body: Any = None, status: int = 200, **h: str) -> Any:
        code, answer = self(method, path, body, **h)
        assert code == status, (code, answer)
        return answer

    def patch(self, image_id: str, ops: list[dict[str, Any]]) -> tuple[int, Any]:
        return self(
            "PATCH",
            f"/v2/images/{image_id}",
            ops,
            **{"Content-Type": "application/openstack-images-v2.1-json-patch"},
        )

    def upload(self, image_id: str, data: bytes, **headers: str) -> httpx.Response:
        return self.raw(
            "PUT",
            f"/v2/images/{image_id}/file",
            content=data,
            headers={"Content-Type": "application/octet-stream", **headers},
        )


@dataclass
class ImageWorld:
    cloud: Cloud
    url: str
    admin: Api
    alice: Api
    bob: Api

    @property
    def images_dir(self) -> Path:
        return self.cloud.settings.data_dir / "images"


@contextmanager
def serving(app: Any) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _token(cloud: Cloud, user: str, password: str, project: str) -> str:
    auth = {
        "identity": {
            "methods": ["password"],
            "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}},
        },
        "scope": {"project": {"id": project}},
    }
    return cloud.authenticator.authenticate(auth)[0]


def _member(cloud: Cloud, name: str) -> tuple[str, str]:
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
    return _token(cloud, name, "pw-" + name, project_id.hex), project_id.hex


def settings_for(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    if backend == "postgres":
        return Settings(data_dir=tmp_path, database_url=request.getfixturevalue("pg_dsn"))
    return Settings(data_dir=tmp_path)


def image_world(settings: Settings) -> Iterator[ImageWorld]:
    cloud = build_cloud(settings)
    result = bootstrap(cloud, "admin-pw")
    admin = _token(cloud, "admin", "admin-pw", result.admin_project_id)
    alice, alice_project = _member(cloud, "alice")
    bob, bob_project = _member(cloud, "bob")
    app = registry.APPS["image"](cloud)
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield ImageWorld(
            cloud,
            url,
            Api(client, admin, result.admin_project_id),
            Api(client, alice, alice_project),
            Api(client, bob, bob_project),
        )
    cloud.close()


def module_world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ImageWorld]:
    """One cloud per test module and backend (bootstrapping costs a second)."""
    from tests.support.services import database_name, drop_database, fresh_database

    data_dir = tmp_path_factory.mktemp("image")
    if request.param == "sqlite":
        yield from image_world(Settings(data_dir=data_dir))
        return
    admin_dsn = request.getfixturevalue("pg_admin_dsn")
    dsn = fresh_database(admin_dsn, "strata_image")
    yield from image_world(Settings(data_dir=data_dir, database_url=dsn))
    drop_database(admin_dsn, database_name(dsn))
