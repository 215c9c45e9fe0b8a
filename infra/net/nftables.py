"""nftables tables, each replaced atomically as a whole.

Strata keeps one table per concern (security groups of a host, NAT of a
router), so the agent never edits single rules: it renders the complete
table and swaps it in one `nft -f` transaction. A half-applied ruleset is
therefore impossible, and rules someone added by hand vanish on the next
full reconcile.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from infra.net.namespaces import run

_HANDLE = re.compile(r"\s*# handle \d+")


def table_text(ns: str | None, family: str, name: str) -> str | None:
    """The table as nft prints it, or None when it does not exist."""
    result = run(ns, ["nft", "list", "table", family, name], check=False)
    if result.returncode != 0:
        return None
    return _HANDLE.sub("", result.stdout)


def tables_text(ns: str | None, tables: Sequence[tuple[str, str]]) -> tuple[str | None, ...]:
    """`table_text` of each (family, name), from one process.

    nft 1.0 cannot list two tables in one invocation (the second finds no
    cache), so a set of tables comes from `list ruleset`, which prints each
    table exactly as `list table` does, cut at the table lines.
    """
    if len(tables) == 1:
        return (table_text(ns, *tables[0]),)
    result = run(ns, ["nft", "list", "ruleset"], check=False)
    if result.returncode != 0:
        return tuple(table_text(ns, family, name) for family, name in tables)
    found: dict[tuple[str, str], list[str]] = {}
    lines: list[str] = []
    for line in _HANDLE.sub("", result.stdout).splitlines(keepends=True):
        if line.startswith("table "):
            family, name = line.split()[1:3]
            lines = found.setdefault((family, name), [])
        lines.append(line)
        if line == "}\n":  # what comes between tables (a warning) is no table's
            lines = []
    return tuple("".join(found[pair]) if pair in found else None for pair in tables)


def replace_tables(ns: str | None, tables: Sequence[tuple[str, str, str]]) -> None:
    """Make each (family, name, body) table contain exactly body, in one transaction.

    Declaring a table before deleting it makes the delete valid whether or
    not the table existed, so the same script creates and replaces. Tables
    that must agree with each other (marks set in one, matched in another)
    are swapped together, so no packet ever sees one new and one old.
    """
    script = ""
    for family, name, body in tables:
        script += f"table {family} {name} {{}}\ndelete table {family} {name}\n"
        script += f"table {family} {name} {{\n{body}\n}}\n"
    run(ns, ["nft", "-f", "-"], stdin=script)


def delete_table(ns: str | None, family: str, name: str) -> None:
    run(ns, ["nft", "delete", "table", family, name], check=False)
