"""Glance's list parameters turned into an ImageFilter, and the `next` link.

Every parameter Glance does not know as a filter or a paging control is a
property filter (`?os_distro=debian`), as in Glance.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from urllib.parse import urlencode

from api.common.http import Call
from api.image.errors import bad_request
from domain.image import rules
from projections.base import format_time
from projections.image.queries import SORT_KEYS, ImageFilter

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
PAGING = {"limit", "marker", "sort_key", "sort_dir", "sort"}
LISTED = {"name", "id", "status", "container_format", "disk_format"}
EXACT = {"owner", "checksum", "os_hash_value"}
TIME_OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "=", "neq": "<>"}


def image_filter(call: Call) -> ImageFilter:
    wanted = ImageFilter(limit=_limit(call), marker=call.query.get("marker"))
    wanted.sort = _sorting(call)
    for key, values in call.query_lists.items():
        value = values[-1]
        if key in PAGING:
            continue
        if key == "visibility":
            if value not in (*rules.VISIBILITIES, "all"):
                raise bad_request(f"Invalid visibility value: {value}")
            wanted.visibility = value
        elif key == "member_status":
            if value not in (*rules.MEMBER_STATUSES, "all"):
                raise bad_request(f"Invalid status value: {value}")
            wanted.member_status = value
        elif key == "tag":
            wanted.tags = list(values)
        elif key == "os_hidden":
            wanted.os_hidden = _boolean(key, value)
        elif key == "protected":
            wanted.equals[key] = _boolean(key, value)
        elif key in ("size_min", "size_max"):
            wanted.ranges.append(("size", ">=" if key == "size_min" else "<=", _integer(value)))
        elif key in ("created_at", "updated_at"):
            wanted.ranges.append((key, *_time_filter(key, value)))
        elif key in LISTED:
            _listed(wanted, key, value)
        elif key in EXACT:
            wanted.equals[key] = value
        else:
            wanted.properties[key] = value
    return wanted


def _limit(call: Call) -> int:
    text = call.query.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    try:
        limit = int(text)
    except ValueError as error:
        raise bad_request("limit param must be an integer") from error
    if limit < 0:
        raise bad_request("limit param must be positive")
    return min(limit, MAX_LIMIT)


def _sorting(call: Call) -> list[tuple[str, str]]:
    keys = call.query_lists.get("sort_key", [])
    dirs = call.query_lists.get("sort_dir", [])
    sort = call.query.get("sort")
    if sort is not None:
        if keys or dirs:
            raise bad_request("The 'sort' param cannot be used with 'sort_key' or 'sort_dir'.")
        pairs = []
        for part in sort.split(","):
            key, _, direction = part.strip().partition(":")
            pairs.append((_sort_key(key), _sort_dir(direction or "desc")))
        return pairs
    if not keys:
        return [("created_at", _sort_dir(dirs[0]) if dirs else "desc")]
    if len(dirs) > 1 and len(dirs) != len(keys):
        raise bad_request("Number of sort dirs does not match the number of sort keys")
    if len(dirs) <= 1:
        dirs = [dirs[0] if dirs else "desc"] * len(keys)
    return [(_sort_key(k), _sort_dir(d)) for k, d in zip(keys, dirs, strict=True)]


def _sort_key(key: str) -> str:
    if key not in SORT_KEYS:
        raise bad_request(
            f"Invalid sort key: {key}. It must be one of the following: {', '.join(SORT_KEYS)}."
        )
    return key


def _sort_dir(direction: str) -> str:
    if direction not in ("asc", "desc"):
        raise bad_request(f"Invalid sort direction: {direction}")
    return direction


def _boolean(key: str, value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise bad_request(
            f"Invalid value '{value}' for '{key}' filter. Valid values are 'true' or 'false'."
        )
    return value.lower() == "true"


def _integer(value: str) -> int:
    try:
        return int(value)
    except ValueError as error:
        raise bad_request("Unable to filter on a range with a non-numeric value.") from error


def _split_operator(value: str) -> tuple[str, str]:
    operator, sep, rest = value.partition(":")
    return (operator, rest) if sep else ("eq", value)


def _listed(wanted: ImageFilter, key: str, value: str) -> None:
    """`name=x`, `name=eq:x` or `name=in:"a,b",c` (Glance's quoting)."""
    operator, operand = _split_operator(value)
    if operator == "in":
        wanted.any_of[key] = next(csv.reader([operand])) if operand else [""]
    elif operator == "eq":
        wanted.equals[key] = operand
    else:
        raise bad_request(f"Unable to filter by unknown operator '{operator}'.")


def _time_filter(key: str, value: str) -> tuple[str, str]:
    operator, operand = _split_operator(value)
    try:
        moment = datetime.fromisoformat(value if operator not in TIME_OPERATORS else operand)
    except ValueError as error:
        raise bad_request(
            f'Bad "{key}" query filter format. Use ISO 8601 DateTime notation.'
        ) from error
    if operator not in TIME_OPERATORS:
        operator = "eq"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return TIME_OPERATORS[operator], format_time(moment)


def next_link(call: Call, last_id: str) -> str:
    params = [(k, v) for k, values in call.query_lists.items() for v in values if k != "marker"]
    params.append(("marker", last_id))
    return "/v2/images?" + urlencode(params)


def first_link(call: Call) -> str:
    params = [(k, v) for k, values in call.query_lists.items() for v in values if k != "marker"]
    return "/v2/images" + ("?" + urlencode(params) if params else "")
