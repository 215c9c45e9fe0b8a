"""The compute agent's part, played by hand in API-only end-to-end tests (no tests here).

Those tests run `strata up` without its compute agent (STRATA_COMPUTE_DRIVER=off)
and play its part: they open the running cloud's own event store (same data
folder, same database) and dispatch the agent's commands — register the host,
report a server active or stopped — to check exact API states step by step.
The real agent is tested in tests/e2e/test_compute_guest.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from commands.compute.agent import RegisterHost, ReportServerActive, ReportServerStopped
from commands.context import SYSTEM_CONTEXT
from infra.settings import Settings
from runtime.cloud import Cloud, build_cloud
from tests.e2e.cloud import RunningCloud

HOST = "e2e-node"


def _database_url(running: RunningCloud) -> str:
    # RunningCloud does not keep the URL it was started with; the process does.
    environ = Path(f"/proc/{running.process.pid}/environ").read_bytes().split(b"\0")
    for entry in environ:
        name, _, value = entry.decode(errors="replace").partition("=")
        if name == "STRATA_DATABASE_URL":
            return value
    return ""


@contextmanager
def agent_side(running: RunningCloud) -> Iterator[Cloud]:
    settings = Settings(data_dir=running.data_dir, database_url=_database_url(running))
    cloud = build_cloud(settings)
    try:
        yield cloud
    finally:
        cloud.close()


def register_host(running: RunningCloud) -> None:
    with agent_side(running) as cloud:
        command = RegisterHost(
            hostname=HOST, vcpus=8, memory_mb=16384, disk_gb=200, hypervisor_driver="test"
        )
        cloud.bus.dispatch(command, SYSTEM_CONTEXT)


def report(running: RunningCloud, server_id: str, state: str) -> None:
    ident = uuid.UUID(server_id)
    with agent_side(running) as cloud:
        if state == "active":
            cloud.bus.dispatch(ReportServerActive(server_id=ident, hostname=HOST), SYSTEM_CONTEXT)
        else:
            cloud.bus.dispatch(ReportServerStopped(server_id=ident), SYSTEM_CONTEXT)
