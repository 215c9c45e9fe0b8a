"""Neutron's list conventions over documents: filters, tags, sorting, pages, fields.

Any attribute is a filter (repeated means "any of these"); `fields` picks
attributes; `sort_key`/`sort_dir` order; `limit`/`marker`/`page_reverse`
page through, with `<collection>_links` pointing at the neighbouring pages.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from api.common.http import Call
from api.network.errors import bad_request
from projections.network.queries import Window

Doc = dict[str, Any]
RESERVED = {
    "fields",
    "limit",
    "marker",
    "page_reverse",
    "sort_key",
    "sort_dir",
    "tags",
    "tags-any",
    "not-tags",
    "not-tags-any",
}
# Filters the read model can apply in SQL (attribute -> column).
SQL_COLUMNS = {
    "id": "id",
    "project_id": "project_id",
    "tenant_id": "project_id",
    "name": "name",
    "network_id": "network_id",
    "device_id": "device_id",
    "device_owner": "device_owner",
    "binding:host_id": "host",
    "security_group_id": "security_group_id",
}
TRUE = {"true", "1", "yes", "on"}


def sql_filters(call: Call, columns: set[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, values in call.query_lists.items():
        column = SQL_COLUMNS.get(key)
        if column in columns and column not in out:
            out[column] = values
    return out


def sql_window(call: Call, columns: set[str]) -> Window | None:
    """The SQL-only page when nothing needs the documents themselves: every
    filter is a column, no tags, default order, a limit. Large lists' first
    pages then cost one indexed query instead of reading every row."""
    keys = set(call.query_lists) - {"fields", "limit", "marker", "page_reverse"}
    if any(SQL_COLUMNS.get(k) not in columns for k in keys):
        return None
    text = call.query.get("limit", "")
    if not text.isdigit() or int(text) == 0:
        return None
    reverse = call.query.get("page_reverse", "").lower() in TRUE
    return Window(int(text), call.query.get("marker") or None, reverse)


def window_page(
    docs: list[Doc], window: Window, call: Call, collection: str, base_url: str
) -> tuple[list[Doc], list[Doc]]:
    """The page and its links from the rows a Window selected (one extra row
    tells there is more in the paging direction)."""
    more = len(docs) > window.limit
    chosen = docs[1:] if more and window.reverse else docs[: window.limit]
    more_next, more_prev = (
        (bool(window.marker), more) if window.reverse else (more, bool(window.marker))
    )
    links = []
    if chosen and more_next:
        links.append(_link(call, base_url, collection, chosen[-1]["id"], False, "next"))
    if chosen and more_prev:
        links.append(_link(call, base_url, collection, chosen[0]["id"], True, "previous"))
    return chosen, links


def _matches(value: Any, wanted: str) -> bool:
    if isinstance(value, bool):
        return value == (wanted.strip().lower() in TRUE)
    if value is None:
        return wanted in ("", "None", "null")
    if isinstance(value, list):
        if "=" in wanted:  # fixed_ips=subnet_id=X, fixed_ips=ip_address=Y
            key, _, expected = wanted.partition("=")
            return any(isinstance(v, dict) and str(v.get(key)) == expected for v in value)
        return wanted in [str(v) for v in value]
    return str(value) == wanted


def _tags_ok(doc: Doc, call: Call) -> bool:
    tags = set(doc.get("tags") or [])

    def listed(name: str) -> list[set[str]]:
        return [set(v.split(",")) for v in call.query_lists.get(name, [])]

    return (
        all(group <= tags for group in listed("tags"))
        and all(group & tags for group in listed("tags-any"))
        and not any(group <= tags for group in listed("not-tags"))
        and not any(group & tags for group in listed("not-tags-any"))
    )


def filtered(docs: list[Doc], call: Call) -> list[Doc]:
    filters = {k: v for k, v in call.query_lists.items() if k not in RESERVED}
    out = []
    for doc in docs:
        # An attribute a resource does not have cannot narrow the list (Neutron
        # without filter validation ignores such filters).
        if all(
            key not in doc or any(_matches(doc[key], w) for w in wanted)
            for key, wanted in filters.items()
        ) and _tags_ok(doc, call):
            out.append(doc)
    return out


def _sort_value(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool | int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, json.dumps(value, sort_keys=True))


def ordered(docs: list[Doc], call: Call) -> list[Doc]:
    keys = call.query_lists.get("sort_key", [])
    dirs = call.query_lists.get("sort_dir", [])
    if len(dirs) > len(keys) or any(d not in ("asc", "desc") for d in dirs):
        raise bad_request(
            "The number of sort_keys and sort_dirs must be same; sort_dir is asc or desc."
        )
    if docs and any(k not in docs[0] for k in keys):
        raise bad_request(
            f"{[k for k in keys if k not in docs[0]]} is invalid attribute for sort_keys."
        )
    # The id is the last key so markers always find one place in the order.
    docs = sorted(docs, key=lambda d: d["id"])
    for key, direction in reversed(
        list(zip(keys, dirs + ["asc"] * (len(keys) - len(dirs)), strict=True))
    ):
        docs = sorted(docs, key=lambda d: _sort_value(d.get(key)), reverse=direction == "desc")
    return docs


def page(
    docs: list[Doc], call: Call, collection: str, base_url: str
) -> tuple[list[Doc], list[Doc]]:
    """The page asked for and its `links`."""
    limit_text = call.query.get("limit")
    marker = call.query.get("marker")
    reverse = call.query.get("page_reverse", "").lower() in TRUE
    limit = None
    if limit_text:
        try:
            limit = int(limit_text)
        except ValueError as error:
            raise bad_request(f"Invalid limit: '{limit_text}' is not an integer.") from error
        if limit < 0:
            raise bad_request(f"Invalid limit: {limit} must be >= 0.")
        limit = limit or None
    ids = [d["id"] for d in docs]
    if marker:
        if marker not in ids:
            raise bad_request(f"Marker {marker} could not be found.")
        at = ids.index(marker)
        before, after = docs[:at], docs[at + 1 :]
    else:
        before, after = ([], docs) if not reverse else (docs, [])
    if reverse:
        chosen = before[-limit:] if limit else before
        more_next, more_prev = bool(marker), len(chosen) < len(before)
    else:
        chosen = after[:limit] if limit else after
        more_next, more_prev = len(chosen) < len(after), bool(marker)
    links = []
    if limit and chosen:
        if more_next:
            links.append(_link(call, base_url, collection, chosen[-1]["id"], False, "next"))
        if more_prev:
            links.append(_link(call, base_url, collection, chosen[0]["id"], True, "previous"))
    return chosen, links


def _link(call: Call, base_url: str, collection: str, marker: str, reverse: bool, rel: str) -> Doc:
    params = [
        (k, v)
        for k, vs in call.query_lists.items()
        if k not in ("marker", "page_reverse")
        for v in vs
    ]
    params.append(("marker", marker))
    if reverse:
        params.append(("page_reverse", "True"))
    return {"rel": rel, "href": f"{base_url}/v2.0/{collection}?{urlencode(params)}"}


def with_fields(doc: Doc, call: Call) -> Doc:
    fields = call.query_lists.get("fields")
    if not fields:
        return doc
    return {k: v for k, v in doc.items() if k in fields}
