"""The agent's run loop: converge on every wake-up and on a timer.

Events only say *that* something changed; the loop never trusts a message
alone (DESIGN.md) and re-reads the whole desired state through `load_spec`
every time, so a lost, duplicated or reordered event cannot leave the host
wrong for longer than one `interval`. Outcomes go to `publish` (which the
composition root turns into PortBound / ERROR status commands).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from workers.network.desired import HostSpec
from workers.network.report import Report

log = logging.getLogger(__name__)


class Converger(Protocol):
    def converge(self, spec: HostSpec) -> Report: ...


class AgentLoop:
    def __init__(
        self,
        agent: Converger,
        load_spec: Callable[[], HostSpec],
        publish: Callable[[Report], None],
        interval: float = 30.0,
        before_pass: Callable[[], object] | None = None,
    ) -> None:
        self.agent = agent
        self.load_spec = load_spec
        self.publish = publish
        self.interval = interval
        # Host-wide upkeep outside the spec (the metadata relay), each pass.
        self.before_pass = before_pass
        self._wake = threading.Event()
        self._stop = threading.Event()

    def poke(self) -> None:
        """Ask for a pass soon (call from an event subscriber)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run_once(self) -> Report | None:
        if self.before_pass is not None:
            try:
                self.before_pass()
            except Exception:  # its failure must not stop the networking itself
                log.exception("network agent upkeep failed")
        try:
            report = self.agent.converge(self.load_spec())
        except Exception:
            # Per-resource failures are in the report; this is the whole pass
            # failing (e.g. the read models unreachable): try again later.
            log.exception("network agent pass failed")
            return None
        self.publish(report)
        return report

    def run(self) -> None:
        while not self._stop.is_set():
            # Clear before the pass: a poke arriving during it triggers another.
            self._wake.clear()
            self.run_once()
            self._wake.wait(self.interval)
