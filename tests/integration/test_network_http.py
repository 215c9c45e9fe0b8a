"""Shared setup of the network API tests (no tests here): the network app of a
cloud built by the real composition root, served by uvicorn, and real tokens
for an admin and two members of different projects."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
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


class Api:
    def __init__(self, client: httpx.Client, token: str) -> None:
        self.client, self.token = client, token

    def __call__(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
        response = self.client.request(
            method, path, json=body, headers={"X-Auth-Token": self.token, **headers}
        )
        return response.status_code, response.json() if response.content else None

    def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        code, answer = self(method, path, body)
        assert code == status, answer
        return answer


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """The app under a real uvicorn on a free port, in a thread; its URL."""
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


def _member(cloud: Cloud, name: str) -> str:
    project = cloud.bus.dispatch(CreateProject(domain_id=DEFAULT_DOMAIN_ID, name=name), SYSTEM)
    project_id = project.outcome["id"]
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
    return _token(cloud, name, "pw-" + name, project_id.hex)


def network_apis(data_dir: Path) -> Iterator[tuple[Api, Api, Api]]:
    cloud = build_cloud(Settings(data_dir=data_dir))
    result = bootstrap(cloud, "admin-pw")
    admin = _token(cloud, "admin", "admin-pw", result.admin_project_id)
    with serving(registry.APPS["network"](cloud)) as url, httpx.Client(base_url=url) as client:
        yield (
            Api(client, admin),
            Api(client, _member(cloud, "alice")),
            Api(client, _member(cloud, "bob")),
        )
    cloud.close()
