"""What makes an agent pass cheap and prompt, against a real namespace: one
dump of the links reused until something changes, and a wake-up when a
device a waiting port needs appears."""

from __future__ import annotations

import secrets
import subprocess
import threading
from collections.abc import Iterator

import pytest

from infra.net import namespaces
from infra.net.namespaces import iproute
from workers.network.device_watch import DeviceWatch
from workers.network.link_cache import CachedLinks

pytestmark = pytest.mark.root


@pytest.fixture
def netns() -> Iterator[str]:
    name = "wake-" + secrets.token_hex(3)
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        namespaces.delete_namespace(name)


def _veth(netns: str, name: str) -> None:
    subprocess.run(
        ["ip", "-n", netns, "link", "add", name, "type", "veth", "peer", "name", "p" + name],
        check=True,
    )


def test_the_dump_is_reused_until_a_change_through_it_or_forget(netns: str) -> None:
    with iproute(netns) as ipr:
        links = CachedLinks(ipr)
        first = links.all()
        assert "lo" in first
        _veth(netns, "tapa")  # made by someone else: the dump does not know yet
        assert "tapa" not in links.all()
        links.forget()
        assert {"tapa", "ptapa"} <= set(links.all())
        links.add_bridge("brqtest", 1450, "fa:16:3e:00:00:01")  # a change through it
        assert "brqtest" in links.all()
        links.delete("brqtest")
        assert "brqtest" not in links.all()


def test_callers_may_add_to_a_dump_without_changing_the_next(netns: str) -> None:
    with iproute(netns) as ipr:
        links = CachedLinks(ipr)
        mine = links.all()
        mine.clear()
        assert "lo" in links.all()


def _watch(
    netns: str, wanted: frozenset[str], passes: list[int]
) -> tuple[threading.Event, threading.Event, threading.Thread]:
    poked, stopping = threading.Event(), threading.Event()
    watch = DeviceWatch(netns, lambda: passes[0], lambda: wanted, poked.set)
    thread = threading.Thread(target=watch.run, args=(stopping,), daemon=True)
    thread.start()
    return poked, stopping, thread


def test_a_device_a_waiting_port_needs_wakes_the_agent(netns: str) -> None:
    poked, stopping, thread = _watch(netns, frozenset({"tapwanted"}), [1])
    try:
        assert not poked.wait(0.3)  # nothing there yet
        _veth(netns, "tapother")
        assert not poked.wait(0.3)  # not one anybody waits for
        _veth(netns, "tapwanted")
        assert poked.wait(5)
    finally:
        stopping.set()
        thread.join(5)
    assert not thread.is_alive()


def test_a_device_that_came_during_the_pass_is_found_when_the_pass_ends(netns: str) -> None:
    _veth(netns, "tapearly")  # before the pass said it waits for it
    passes = [1]
    poked, stopping, thread = _watch(netns, frozenset({"tapearly"}), passes)
    try:
        assert poked.wait(5)  # the first look after a pass finds it
        poked.clear()
        assert not poked.wait(0.3)  # and only once per pass
        passes[0] = 2
        assert poked.wait(5)
    finally:
        stopping.set()
        thread.join(5)


def test_the_watch_never_creates_the_namespace_it_waits_for() -> None:
    missing = "wake-missing-" + secrets.token_hex(3)
    poked, stopping, thread = _watch(missing, frozenset({"tapx"}), [1])
    try:
        assert not poked.wait(0.5)
        assert not namespaces.exists(missing)
    finally:
        stopping.set()
        thread.join(5)
        namespaces.delete_namespace(missing)
