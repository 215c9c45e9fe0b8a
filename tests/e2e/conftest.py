from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cloud import RunningCloud, start_cloud
from tests.support.services import database_name, drop_database, fresh_database


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def cloud(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningCloud]:
    """A whole `strata up` per test module, on each of the two profiles' databases."""
    if request.param == "sqlite":
        running = start_cloud(Path(tmp_path_factory.mktemp("cloud")))
        yield running
        running.stop()
        return
    admin = request.getfixturevalue("pg_admin_dsn")
    dsn = fresh_database(admin, "strata_e2e")
    running = start_cloud(Path(tmp_path_factory.mktemp("cloud")), database_url=dsn)
    yield running
    running.stop()
    drop_database(admin, database_name(dsn))
