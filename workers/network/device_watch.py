"""Wake the agent when a device that a waiting port needs appears.

An instance port is up once its tap exists and is plugged. Compute makes the
tap when it starts the guest, which changes no read model the agent follows,
so a port whose pass found no tap waited for some unrelated wake-up or the
periodic pass. The kernel announces every new link to the rtnetlink link
group; this listens there, in the namespace the agent manages, and pokes the
loop when one of the devices waiting ports need shows up.

A device may also appear while a pass runs, after the pass looked for it but
before the pass said the port waits for it; the watch sees the announcement
too early to know it matters. So each time a pass ends with ports waiting,
it also looks up those devices once.

A socket into a namespace keeps the namespace alive after `ip netns
delete`, so the watch opens one only while the namespace exists and lets
go of it soon after the namespace is deleted.
"""

from __future__ import annotations

import logging
import select
import threading
from collections.abc import Callable, Iterable
from typing import Any

from pyroute2.netlink.rtnl import RTMGRP_LINK  # type: ignore[import-untyped]

from infra.net import namespaces
from infra.net.namespaces import iproute

log = logging.getLogger(__name__)

# How long one wait for announcements lasts: also how soon the watch notices
# that a pass ended or that it should stop.
TICK = 0.02
# After the socket failed or while the namespace is missing; also how often
# the watch checks that its namespace still exists.
RETRY_AFTER = 1.0


class DeviceWatch:
    def __init__(
        self,
        netns: str | None,
        passes: Callable[[], int],
        waiting: Callable[[], frozenset[str]],
        poke: Callable[[], None],
    ) -> None:
        self.netns = netns
        self.passes = passes  # how many passes ended (cheap: asked every tick)
        self.waiting = waiting  # the devices the last pass's waiting ports need
        self.poke = poke

    def run(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            if not self._namespace_exists():
                stopping.wait(RETRY_AFTER)
                continue
            try:
                with iproute(self.netns) as ipr:
                    ipr.bind(groups=RTMGRP_LINK)
                    self._listen(ipr, stopping)
            except Exception as error:  # keep watching: a missed device only waits longer
                log.warning("network agent: device watch failed, retrying: %s", error)
                stopping.wait(RETRY_AFTER)

    def _listen(self, ipr: Any, stopping: threading.Event) -> None:
        checked, devices = -1, frozenset[str]()
        ticks = 0
        while not stopping.is_set():
            ticks += 1
            if ticks % round(RETRY_AFTER / TICK) == 0 and not self._namespace_exists():
                return
            number = self.passes()
            if number != checked:
                checked, devices = number, self.waiting()
                if devices and _any_present(ipr, devices):
                    self.poke()
            ready, _, _ = select.select([ipr.fileno()], [], [], TICK)
            if not ready:
                continue
            announced = {m.get("ifname") for m in ipr.get() if m.get("event") == "RTM_NEWLINK"}
            # One read may return only part of what arrived (the rest waits
            # in the socket's queue, unseen by select), so a wanted device
            # is also looked up whenever anything was announced.
            if devices and (announced & devices or _any_present(ipr, devices)):
                self.poke()

    def _namespace_exists(self) -> bool:
        # Opening a socket into a missing namespace would create it.
        return self.netns is None or namespaces.exists(self.netns)


def _any_present(ipr: Any, devices: Iterable[str]) -> bool:
    return any(ipr.link_lookup(ifname=device) for device in devices)
