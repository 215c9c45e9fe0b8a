"""Pruning the host's base-image cache, as Nova's image cache manager does.

A cached base is in use when a server of this host boots from it (its
`image_id` in the desired state) or a domain of this host names it (a
kernel or ramdisk for direct boot). In-use bases are touched on every
check, so a base's mtime is the last time this host used it, which survives
restarts; one unused for longer than `min_age` (Nova's
remove_unused_original_minimum_age_seconds) is removed.

Bases are only read or written inside the agent's jobs (a copy into the
cache, an overlay made over one, a snapshot reading through one), so a
check runs only on a pass that starts with no job in flight: nothing can be
half-copied or about to be used then. Disks.prune_base also skips a base
whose copy lock is held, in case that rule is ever broken.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from workers.compute.disks import BASE, Disks

log = logging.getLogger(__name__)

# `<kernel>/…/_base/<id></kernel>`, `<source file='…/_base/<id>'/>`
_BASE_PATH = re.compile(rf"/{BASE}/([^/<>'\"\s]+)")


def bases_named(domain_xml: str) -> set[str]:
    return set(_BASE_PATH.findall(domain_xml))


def in_use(servers: Iterable[dict[str, Any]], domain_xmls: Iterable[str]) -> set[str]:
    used = {str(s["image_id"]) for s in servers if s.get("image_id")}
    for xml in domain_xmls:
        used |= bases_named(xml)
    return used


class ImageCache:
    def __init__(
        self,
        disks: Disks,
        min_age: float,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.disks = disks
        self.min_age = min_age
        self.interval = interval
        self.clock = clock
        self._next_check: float | None = None  # None: at the first idle pass

    def tick(self, servers: Iterable[dict[str, Any]], domains: dict[str, Any], idle: bool) -> None:
        """Called at the start of every pass; checks when due and idle."""
        if self.min_age < 0 or not idle:
            return
        now = self.clock()
        if self._next_check is not None and now < self._next_check:
            return
        self._next_check = now + self.interval
        try:
            xmls = [str(domain.XMLDesc(0)) for domain in domains.values()]
        except Exception as error:  # a domain gone meanwhile: what is used is unknown
            log.warning("image cache: not checked this time: %s", error)
            self._next_check = None
            return
        for image_id in self.disks.prune_base(in_use(servers, xmls), self.min_age):
            log.info(
                "image cache: removed base image %s (unused for over %.0fs)", image_id, self.min_age
            )
