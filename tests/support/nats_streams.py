"""A private nats-server for tests that stop, restart or fill streams, and
a stream name that is deleted after the test."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import nats
import pytest

from tests.support.services import NatsProcess, ServiceUnavailableError, start_nats_server


@contextmanager
def private_nats_server() -> Iterator[NatsProcess]:
    """Skips locally, fails in CI, when nats-server cannot be started."""
    try:
        server = start_nats_server()
    except ServiceUnavailableError as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"nats-server unavailable in CI: {exc}", pytrace=False)
        pytest.skip(f"nats-server unavailable: {exc}")
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def throwaway_stream(url: str, prefix: str) -> Iterator[str]:
    """A fresh stream name; the stream, if something made it, goes afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10].upper()}"
    yield name

    async def delete() -> None:
        nc = await nats.connect(url)
        try:
            await nc.jetstream().delete_stream(name)
        except nats.js.errors.NotFoundError:
            pass
        finally:
            await nc.close()

    asyncio.run(delete())
