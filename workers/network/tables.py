"""Apply nftables tables only when they differ from what they should be.

nft prints a table differently from how it was written, so the agent
cannot compare its rendered text with `nft list` output. Instead it
remembers, per table set, the body it applied and how nft printed the
result; when both still match, nothing changed. A rule added or removed by
hand changes the printout and triggers a replacement. A restarted agent
has no memory and replaces each table once, which is harmless: the swap is
atomic.
"""

from __future__ import annotations

from collections.abc import Sequence

from infra.net import nftables

Table = tuple[str, str, str]  # family, name, body


class TableSync:
    def __init__(self) -> None:
        self._applied: dict[tuple[str | None, tuple[tuple[str, str], ...]], tuple[object, ...]] = {}

    def ensure(self, ns: str | None, tables: Sequence[Table]) -> bool:
        key = (ns, tuple((family, name) for family, name, _ in tables))
        bodies = tuple(body for _, _, body in tables)
        if self._applied.get(key) == (bodies, self._listing(ns, tables)):
            return False
        nftables.replace_tables(ns, tables)
        self._applied[key] = (bodies, self._listing(ns, tables))
        return True

    def forget(self, ns: str | None) -> None:
        for key in [k for k in self._applied if k[0] == ns]:
            del self._applied[key]

    @staticmethod
    def _listing(ns: str | None, tables: Sequence[Table]) -> tuple[str | None, ...]:
        return tuple(nftables.table_text(ns, family, name) for family, name, _ in tables)
