"""Apply nftables tables (and the sysctls they rely on) only when needed.

nft prints a table differently from how it was written, so the agent
cannot compare its rendered text with `nft list` output. Instead it
remembers, per table set, the body it applied and how nft printed the
result; when both still match, nothing changed. A rule added or removed by
hand changes the printout and triggers a replacement. A restarted agent
has no memory and replaces each table once, which is harmless: the swap is
atomic.

Listing a table costs a process per table, and a pass woken by an event
(a port came) is on the way of that port to ACTIVE. So only a verifying
pass (`verify`, the timer's and every direct call) lists: a quick pass
trusts the memory of what this agent applied into the same namespace (the
same inode, so a namespace deleted and created again is not mistaken for
the old one) and applies only a body that changed. Tables a quick pass
applied are listed by `settle`, which the loop calls once the pass's
report is out; until then a verifying pass cannot compare and reapplies.
Drift made by hand is therefore repaired by the next timer pass, never
left for longer than one interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from infra.net import namespaces, nftables

Table = tuple[str, str, str]  # family, name, body
_Key = tuple[str | None, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class _Applied:
    namespace: int | None  # inode of the namespace it went into (None: not named)
    bodies: tuple[str, ...]
    listing: tuple[str | None, ...] | None  # None: not listed since


class TableSync:
    def __init__(self) -> None:
        self._applied: dict[_Key, _Applied] = {}
        self._sysctls: dict[tuple[str | None, str], tuple[int | None, str]] = {}
        # Whether this pass lists what it relies on (see above); set per pass.
        self.verify = True

    def ensure(self, ns: str | None, tables: Sequence[Table]) -> bool:
        key = (ns, tuple((family, name) for family, name, _ in tables))
        bodies = tuple(body for _, _, body in tables)
        inode = _identity(ns)
        known = self._applied.get(key)
        same = known is not None and known.bodies == bodies and known.namespace == inode
        if same and not self.verify:
            return False
        if same and known is not None and known.listing == _listing(ns, tables):
            return False
        nftables.replace_tables(ns, tables)
        listing = _listing(ns, tables) if self.verify else None
        self._applied[key] = _Applied(inode, bodies, listing)
        return True

    def settle(self) -> None:
        """List the tables a quick pass applied, for the next verifying pass."""
        for key, applied in list(self._applied.items()):
            if applied.listing is not None:
                continue
            ns, pairs = key
            if _identity(ns) != applied.namespace:
                del self._applied[key]
                continue
            tables = [(family, name, "") for family, name in pairs]
            self._applied[key] = _Applied(applied.namespace, applied.bodies, _listing(ns, tables))

    def ensure_sysctl(self, ns: str | None, key: str, value: str) -> bool:
        """`namespaces.ensure_sysctl`, which a quick pass skips once it was set."""
        inode = _identity(ns)
        if not self.verify and self._sysctls.get((ns, key)) == (inode, value):
            return False
        changed = namespaces.ensure_sysctl(ns, key, value)
        self._sysctls[(ns, key)] = (inode, value)
        return changed

    def forget(self, ns: str | None) -> None:
        for key in [k for k in self._applied if k[0] == ns]:
            del self._applied[key]
        for sysctl in [k for k in self._sysctls if k[0] == ns]:
            del self._sysctls[sysctl]


def _identity(ns: str | None) -> int | None:
    return None if ns is None else namespaces.identity(ns)


def _listing(ns: str | None, tables: Sequence[Table]) -> tuple[str | None, ...]:
    return nftables.tables_text(ns, [(family, name) for family, name, _ in tables])
