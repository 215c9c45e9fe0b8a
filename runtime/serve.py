"""Serve several ASGI applications, each on its own port, in one event loop.

uvicorn's own signal handling assumes one server per process; here one
handler stops every server, so Ctrl-C or SIGTERM ends `strata up` cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # signals are handled once, for all servers, in serve_all


async def serve_all(apps: list[tuple[ASGIApp, str, int]]) -> None:
    """Run until SIGINT/SIGTERM; `apps` holds (app, host, port) triples."""
    servers = [
        _Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
        for app, host, port in apps
    ]

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    try:
        await asyncio.gather(*(server.serve() for server in servers))
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
