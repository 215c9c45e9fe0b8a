"""Wake log followers when PostgreSQL says new events were committed.

The recorder NOTIFYs a channel on every insert. Notifications are only a
hint: they are lost while the connection is down and carry no position, so
followers still catch up on a timer; this just makes them prompt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)


def start_log_listener(
    conninfo: str,
    channel: str,
    wake: Callable[[], None],
    stop: threading.Event,
    poll: float = 1.0,
) -> threading.Thread:
    """Call `wake()` after each NOTIFY on `channel` until `stop` is set."""

    def listen() -> None:
        failures = 0
        while not stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    failures = 0
                    wake()  # whatever was committed while we were not listening
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=poll):
                            wake()
            except (psycopg.Error, OSError) as error:
                failures += 1
                log.warning("event listener lost PostgreSQL (%s); reconnecting", error)
                stop.wait(min(5.0, 0.2 * 2**failures))

    thread = threading.Thread(target=listen, name="log-listener", daemon=True)
    thread.start()
    return thread
