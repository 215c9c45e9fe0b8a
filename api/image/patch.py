"""PATCH with `application/openstack-images-v2.1-json-patch`, Glance's way.

The image is seen as one flat document (core attributes, tags, properties
side by side), the operations are checked against Glance's rules (read-only
and reserved attributes, core attributes that cannot be removed, paths one
level deep except into `tags`) and applied with the jsonpatch library. What
comes out is the set of changed attributes and the whole new property map,
which the domain checks again before anything is recorded.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from api.common.errors import ApiError
from api.image.errors import bad_request, forbidden
from domain.image import rules

MEDIA_TYPES = (
    "application/openstack-images-v2.1-json-patch",
    "application/openstack-images-v2.0-json-patch",
)
OPERATIONS = ("add", "remove", "replace")


def document_of(row: dict[str, Any]) -> dict[str, Any]:
    doc = dict(row["properties"])
    for key in rules.CORE:
        doc[key] = copy.deepcopy(row[key])
    return doc


def changes_from(row: dict[str, Any], body: Any) -> dict[str, Any]:
    """The attribute changes a JSON patch makes to an image (may be empty)."""
    if not isinstance(body, list):
        raise bad_request("Request body must be a JSON array of operation objects.")
    before = document_of(row)
    after = copy.deepcopy(before)
    for raw in body:
        after = _apply(after, _operation(raw))
    changes = {k: after[k] for k in rules.CORE if after.get(k) != before[k]}
    properties = {k: v for k, v in after.items() if k not in rules.CORE}
    if properties != row["properties"]:
        changes["properties"] = properties
    return changes


def _operation(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise bad_request("Operations must be JSON objects.")
    op = raw.get("op")
    if op not in OPERATIONS:
        raise bad_request(f"Invalid operation: `{op}`: must be one of {', '.join(OPERATIONS)}.")
    path = raw.get("path")
    if not isinstance(path, str):
        raise bad_request("Unable to find 'path' in JSON Schema change")
    parts = _pointer(path)
    root = parts[0]
    if root == "locations":
        raise forbidden("It's not allowed to update locations if locations are invisible.")
    rules.check_reserved([root])
    if len(parts) > (2 if root == "tags" else 1):
        raise bad_request(f"Invalid JSON pointer for this resource: '{path}'")
    if op != "remove" and "value" not in raw:
        raise bad_request(f'Operation "{op}" requires a member named "value".')
    if op == "remove" and len(parts) == 1 and root in rules.CORE:
        raise forbidden(f"Property {root} may not be removed.")
    operation = {"op": op, "path": path}
    if op != "remove":
        operation["value"] = raw["value"]
    return operation


def _pointer(path: str) -> list[str]:
    if not path.startswith("/") or len(path) < 2:
        raise bad_request(f'Pointer `{path}` does not start with "/".')
    if path.endswith("/") or "//" in path:
        raise bad_request(f"Pointer `{path}` is not a valid JSON pointer.")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _apply(doc: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    try:
        result: dict[str, Any] = jsonpatch.JsonPatch([operation]).apply(doc)
    except jsonpatch.JsonPatchConflict as error:
        root = _pointer(operation["path"])[0]
        raise ApiError(409, f"Property {root} does not exist.") from error
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
        raise bad_request(f"Invalid JSON patch operation: {error}") from error
    return result
