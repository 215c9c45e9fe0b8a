"""Many concurrent boots against little capacity, on SQLite and PostgreSQL:
every host ends exactly full, never over, and every other server is in ERROR
with "No valid host was found"."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from commands.compute.servers import CreateServer
from domain.compute.placement import NO_VALID_HOST
from tests.integration.test_compute_world import ComputeWorld, make_world, settings_for

THREADS = 12
SERVERS_PER_THREAD = 2
SLOTS_PER_HOST = 3


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ComputeWorld]:
    # Every boot may collide on the same two hosts; enough retries to queue through.
    yield from make_world(settings_for(request.param, tmp_path, request), max_attempts=80)


def test_concurrent_boots_never_overcommit(world: ComputeWorld) -> None:
    for name in ("h1", "h2"):
        world.host(
            name, vcpus=SLOTS_PER_HOST, cpu_allocation_ratio=1.0, memory_mb=65536, disk_gb=1000
        )
    flavor, image = world.flavor(vcpus=1), world.image()
    created: list[str] = []
    unexpected: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def boot() -> None:
        start.wait()
        for _ in range(SERVERS_PER_THREAD):
            try:
                outcome = world.run(CreateServer(name="c", image_ref=image, flavor_ref=flavor))
            except BaseException as error:  # surfaced by the assertion below
                with lock:
                    unexpected.append(error)
            else:
                with lock:
                    created.append(str(outcome["id"]))

    threads = [threading.Thread(target=boot) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not unexpected, unexpected
    assert len(created) == THREADS * SERVERS_PER_THREAD
    world.runner.catch_up_all()
    servers = [world.server(i) for i in created]
    placed = [s for s in servers if s["host"]]
    failed = [s for s in servers if s["vm_state"] == "error"]
    assert len(placed) == 2 * SLOTS_PER_HOST
    assert len(failed) == len(created) - len(placed)
    assert all(s["body"]["fault"]["message"] == NO_VALID_HOST for s in failed)
    for host in world.queries.hosts():
        assert len(host["claims"]) == SLOTS_PER_HOST, host["hostname"]
        on_host = {s["id"] for s in placed if s["host"] == host["hostname"]}
        assert set(host["claims"]) == on_host
