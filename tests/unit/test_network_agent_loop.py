"""The agent loop re-reads the desired state on every pass and survives failures."""

from __future__ import annotations

import threading

from workers.network.desired import HostSpec
from workers.network.loop import AgentLoop
from workers.network.probe import probe
from workers.network.report import Report


class FakeAgent:
    def __init__(self) -> None:
        self.seen: list[HostSpec] = []

    def converge(self, spec: HostSpec) -> Report:
        self.seen.append(spec)
        report = Report()
        report.changed(f"pass {len(self.seen)}")
        return report


def test_each_pass_loads_a_fresh_spec_and_publishes_its_report() -> None:
    agent = FakeAgent()
    specs = iter([HostSpec("h", "192.0.2.1"), HostSpec("h", "192.0.2.9")])
    published: list[Report] = []
    loop = AgentLoop(agent, lambda: next(specs), published.append)
    loop.run_once()
    loop.run_once()
    assert [s.local_ip for s in agent.seen] == ["192.0.2.1", "192.0.2.9"]
    assert [r.changes for r in published] == [["pass 1"], ["pass 2"]]


def test_a_failing_load_is_logged_and_retried_not_raised() -> None:
    def broken() -> HostSpec:
        raise ConnectionError("read models unreachable")

    published: list[Report] = []
    loop = AgentLoop(FakeAgent(), broken, published.append)
    assert loop.run_once() is None
    assert published == []


def test_poke_wakes_the_loop_before_its_interval_and_stop_ends_it() -> None:
    agent = FakeAgent()
    first_pass, two_passes = threading.Event(), threading.Event()

    def publish(report: Report) -> None:
        (first_pass if len(agent.seen) == 1 else two_passes).set()

    loop = AgentLoop(agent, lambda: HostSpec("h", "192.0.2.1"), publish, interval=3600)
    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        assert first_pass.wait(5)  # the loop converges at once when started
        loop.poke()
        assert two_passes.wait(5)
    finally:
        loop.stop()
        thread.join(5)
    assert not thread.is_alive()


def test_probe_names_a_driver_or_says_why_not() -> None:
    result = probe()
    assert result.reason
    assert result.driver in {"linuxbridge", None}
