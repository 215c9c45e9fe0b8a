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
