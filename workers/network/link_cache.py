"""Links that reuse one dump of every link until something may have changed.

A pass asks for every link of the host many times: each network's bridge
and VXLAN device, each veth into a namespace, every plug, the stale sweep.
Each dump decodes every link of the host in pyroute2, which costs more the
more devices the host has, and that decoding was most of an idle pass.

Correctness rests on two rules. Any call through this object other than a
read may change the links, so it forgets the dump (an allow-list of reads,
so a method added to `Links` later is treated as a change). And devices of
other owners come and go on their own (compute's taps, the veth ends of a
namespace deleted with `ip netns delete`), so the agent forgets the dump
(`forget`) before the stages that look at such devices (see agent.py): a
dump taken earlier in the pass could only miss a device that appeared
meanwhile, which the next wake-up sees, as a dump taken a moment earlier
always could.
"""

from __future__ import annotations

from typing import Any

from infra.net.links import Link, Links

# Methods that only read: the dump stays valid across them.
_READS = frozenset(
    {
        "all",
        "index",
        "addresses",
        "flood_peers",
        "default_gateway",
        "static_routes",
        "link_local",
        "has_local_route",
    }
)


class CachedLinks(Links):
    def __init__(self, ipr: Any) -> None:
        super().__init__(ipr)
        self._dump: dict[str, Link] | None = None

    def __getattribute__(self, name: str) -> Any:
        if not name.startswith("_") and name not in _READS:
            object.__setattr__(self, "_dump", None)
        return super().__getattribute__(name)

    def all(self) -> dict[str, Link]:
        if self._dump is None:
            self._dump = super().all()
        return dict(self._dump)  # callers may add to what they get

    def forget(self) -> None:
        """Drop the dump (between stages: other owners' devices move on their own)."""
        self._dump = None
