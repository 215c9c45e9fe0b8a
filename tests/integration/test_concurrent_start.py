"""Processes that start together on one fresh PostgreSQL database (an API, a
projector and a host's agent) all come up: table creation is serialised."""

from __future__ import annotations

import threading
from pathlib import Path

from infra.settings import Settings
from runtime.cloud import Cloud, build_cloud


def test_six_clouds_built_at_once_on_a_fresh_database(pg_dsn: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=pg_dsn)
    built: list[Cloud] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)
    lock = threading.Lock()

    def build() -> None:
        start.wait()
        try:
            cloud = build_cloud(settings)
        except BaseException as error:
            with lock:
                errors.append(error)
        else:
            with lock:
                built.append(cloud)

    threads = [threading.Thread(target=build) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for cloud in built:
        cloud.close()
    assert errors == []
    assert len(built) == 6
