"""The agent's run loop: converge on every wake-up and on a timer.

Events only say *that* something changed; the loop never trusts a message
alone (DESIGN.md) and re-reads the whole desired state through `load_spec`
every time, so a lost, duplicated or reordered event cannot leave the host
wrong for longer than one `interval`. Outcomes go to `publish` (which the
composition root turns into PortBound / ERROR status commands).

A wake-up whose desired state equals that of the last pass, when that pass
left nothing waiting and nothing failed, converges nothing: most wake-ups
are the echo of the agent's own reports (a port bound ACTIVE changes the
read model, not the spec), and a full pass costs as much as the host is
big. The last report is published again instead, against the fresh read
model. The timer's pass always converges: it is what repairs drift nobody
announced (a device deleted by hand). A wake-up that does converge may be
a quicker one (`quick`): the agent's trusts the nftables tables it applied
itself and leaves listing them for `after_publish`.
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
        quick: Callable[[HostSpec], Report] | None = None,
        after_publish: Callable[[], object] | None = None,
    ) -> None:
        self.agent = agent
        self.load_spec = load_spec
        self.publish = publish
        self.interval = interval
        # Host-wide upkeep outside the spec (the metadata relay), each pass.
        self.before_pass = before_pass
        # How a wake-up converges (default: as the timer does); the agent's
        # quick pass trusts what it applied itself, see tables.py.
        self.quick = quick or agent.converge
        # Work that may wait until the report is out (listing what a quick
        # pass applied, for the next verifying pass).
        self.after_publish = after_publish
        self._wake = threading.Event()
        self._stop = threading.Event()
        # The last pass that converged: its number, spec and report, in one
        # reference so another thread reads the three of them consistently.
        self.last: tuple[int, HostSpec, Report] | None = None

    def poke(self) -> None:
        """Ask for a pass soon (call from an event subscriber)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run_once(self, full: bool = True) -> Report | None:
        """One pass; `full=False` (a wake-up) may skip converging, see above."""
        if self.before_pass is not None:
            try:
                self.before_pass()
            except Exception:  # its failure must not stop the networking itself
                log.exception("network agent upkeep failed")
        try:
            spec = self.load_spec()
            settled = None if full else self._settled(spec)
            if settled is not None:
                report = settled
            else:
                report = self.agent.converge(spec) if full else self.quick(spec)
        except Exception:
            # Per-resource failures are in the report; this is the whole pass
            # failing (e.g. the read models unreachable): try again later.
            log.exception("network agent pass failed")
            return None
        if settled is not None:
            self.publish(settled)
            return settled
        self.last = (self.last[0] + 1 if self.last else 1, spec, report)
        self.publish(report)
        # A pass already asked for goes first; the follow-up keeps for later.
        if self.after_publish is not None and not self._wake.is_set():
            try:
                self.after_publish()
            except Exception:
                log.exception("network agent follow-up failed")
        return report

    def _settled(self, spec: HostSpec) -> Report | None:
        """The last report, if converging `spec` again would change nothing."""
        if self.last is None:
            return None
        _, last_spec, report = self.last
        if spec != last_spec or report.ports_waiting or report.errors:
            return None
        return report

    def run(self) -> None:
        full = True
        while not self._stop.is_set():
            # Clear before the pass: a poke arriving during it triggers another.
            self._wake.clear()
            self.run_once(full)
            full = not self._wake.wait(self.interval)
