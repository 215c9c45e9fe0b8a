"""The storage agent's run loop: a pass on every wake-up, a full one on a timer.

Events only say *that* something changed; every pass re-reads the whole
desired state (DESIGN.md: a worker never trusts a message alone), so a lost
or repeated wake-up cannot leave the host wrong for longer than `interval`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from workers.storage.agent import StorageAgent
from workers.storage.report import Report

log = logging.getLogger(__name__)


class StorageLoop:
    def __init__(
        self,
        agent: StorageAgent,
        load_state: Callable[[], dict[str, Any]],
        publish: Callable[[Report], None],
        interval: float = 30.0,
    ) -> None:
        self.agent = agent
        self.load_state = load_state
        self.publish = publish
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._last_full = 0.0

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run_once(self, full: bool = False) -> Report | None:
        try:
            report = self.agent.converge(self.load_state(), full)
            self.publish(report)
        except Exception:  # the whole pass failed (read model unreachable): retry later
            log.exception("storage agent pass failed")
            return None
        return report

    def run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before the pass: a poke during it triggers another
            now = time.monotonic()
            full = now - self._last_full >= self.interval
            if full:
                self._last_full = now
            self.run_once(full)
            self._wake.wait(self.interval)
