"""Pytest fixtures and markers for tests that need PostgreSQL or NATS.

Loaded as a plugin (``pytest_plugins = ["tests.support.fixtures"]`` in the
top-level conftest, or ``-p tests.support.fixtures``) rather than living in
a conftest so that the service logic stays importable and testable on its
own in :mod:`tests.support.services`.

Why the fixtures are scoped the way they are:

* ``pg_admin_dsn`` and ``nats_server_url`` are session scoped because
  finding or starting a server costs up to a second or two; every test
  shares the one server.
* ``pg_dsn`` is function scoped and hands each test its own freshly
  created database, so tests never see each other's tables or events and
  can run in any order (or in parallel workers) without cleanup code.

If a service is neither running nor startable (binaries missing), the
fixtures skip the test on a developer machine but fail it when the ``CI``
environment variable is set, so CI can never go green by silently skipping
every integration test.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import NoReturn

import pytest

from tests.support.services import (
    ServiceUnavailableError,
    database_name,
    drop_database,
    fresh_database,
    nats_url,
    postgres_dsn,
)

MARKERS: dict[str, str] = {
    "postgres": "needs a PostgreSQL server (found or started automatically)",
    "nats": "needs a JetStream-enabled nats-server (found or started)",
    "root": "needs to run as root (e.g. network namespaces, bridges)",
    "libvirt": "needs a working libvirt/KVM host",
    "e2e": "end-to-end test driving the whole stack through its APIs",
}

# Fixtures that imply a marker, so ``-m "not postgres"`` also deselects
# tests whose authors forgot to add the marker by hand.
_FIXTURE_MARKERS: dict[str, str] = {
    "pg_admin_dsn": "postgres",
    "pg_dsn": "postgres",
    "nats_server_url": "nats",
}


def pytest_configure(config: pytest.Config) -> None:
    """Register our markers; the project runs pytest with --strict-markers."""
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add the ``postgres``/``nats`` marker to tests using those fixtures."""
    del config  # part of the hook signature, not needed here
    for item in items:
        fixturenames: list[str] = list(getattr(item, "fixturenames", ()))
        for fixture, marker in _FIXTURE_MARKERS.items():
            if fixture in fixturenames and item.get_closest_marker(marker) is None:
                item.add_marker(getattr(pytest.mark, marker))


def _unavailable(exc: ServiceUnavailableError) -> NoReturn:
    """Skip locally, fail in CI (see module docstring)."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"required service unavailable in CI: {exc}", pytrace=False)
    pytest.skip(f"service unavailable: {exc}")


@pytest.fixture(scope="session")
def pg_admin_dsn() -> str:
    """Superuser conninfo (database ``postgres``) for the shared server."""
    try:
        return postgres_dsn()
    except ServiceUnavailableError as exc:
        _unavailable(exc)


def _prefix_for(request: pytest.FixtureRequest) -> str:
    """Name databases after the test so leftovers are easy to trace."""
    name = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")
    return f"strata_{name[:30]}"


@pytest.fixture
def pg_dsn(pg_admin_dsn: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """Conninfo of a brand-new empty database, dropped after the test."""
    dsn = fresh_database(pg_admin_dsn, _prefix_for(request))
    try:
        yield dsn
    finally:
        drop_database(pg_admin_dsn, database_name(dsn))


@pytest.fixture(scope="session")
def nats_server_url() -> str:
    """``nats://`` URL of a JetStream-enabled server shared by the session.

    Tests must namespace their streams/subjects (e.g. with a uuid) because
    the server, unlike the database, is shared between tests.
    """
    try:
        return nats_url()
    except ServiceUnavailableError as exc:
        _unavailable(exc)
