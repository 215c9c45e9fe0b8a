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
    specs = iter([HostSpec("h", "192.0.2.1"), HostSpec("h", "192.0.2.9")])

    def publish(report: Report) -> None:
        (first_pass if len(agent.seen) == 1 else two_passes).set()

    loop = AgentLoop(agent, lambda: next(specs), publish, interval=3600)
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


class TroubledAgent(FakeAgent):
    """Reports a port waiting for its device, or failing, while told to."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = self.failing = False

    def converge(self, spec: HostSpec) -> Report:
        report = super().converge(spec)
        if self.waiting:
            report.ports_waiting.add("port-1")
        if self.failing:
            report.failed("port-2", RuntimeError("no bridge"))
        return report


def test_a_wake_up_with_the_same_spec_publishes_the_last_report_without_converging() -> None:
    agent = FakeAgent()
    published: list[Report] = []
    loop = AgentLoop(agent, lambda: HostSpec("h", "192.0.2.1"), published.append)
    first = loop.run_once(full=False)
    again = loop.run_once(full=False)
    assert len(agent.seen) == 1
    assert again is first
    assert published == [first, first]  # statuses are checked against the fresh read model
    assert loop.last is not None and loop.last[0] == 1


def test_a_changed_spec_or_the_timer_converges_again() -> None:
    agent = FakeAgent()
    specs = iter([HostSpec("h", "192.0.2.1"), HostSpec("h", "192.0.2.9")] * 2)
    loop = AgentLoop(agent, lambda: next(specs), lambda report: None)
    loop.run_once(full=False)
    loop.run_once(full=False)  # another spec
    loop.run_once()  # the timer's pass: a full one, even for a spec seen before
    assert [s.local_ip for s in agent.seen] == ["192.0.2.1", "192.0.2.9", "192.0.2.1"]


def test_ports_waiting_or_failures_keep_wake_ups_converging() -> None:
    agent = TroubledAgent()
    loop = AgentLoop(agent, lambda: HostSpec("h", "192.0.2.1"), lambda report: None)
    agent.waiting = True
    loop.run_once(full=False)
    agent.waiting, agent.failing = False, True
    loop.run_once(full=False)  # the device may have come: look again
    agent.failing = False
    loop.run_once(full=False)  # the failure is retried
    loop.run_once(full=False)  # nothing waits or fails any more: settled
    assert len(agent.seen) == 3


def test_probe_names_a_driver_or_says_why_not() -> None:
    result = probe()
    assert result.reason
    assert result.driver in {"linuxbridge", None}
