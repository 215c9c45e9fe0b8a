"""The createImage server action: Nova's request schema, its metadata quota,
and its two answers (a `Location` header before 2.45, a body from 2.45)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.responses import Response

from api.common.errors import ApiError
from api.common.http import json_response
from api.compute.support import Caller, ComputeDeps, bad_request, dispatch
from commands.compute.snapshots import CreateServerImage

# Nova's parameter_types.metadata key pattern (values: strings up to 255).
METADATA_KEY = re.compile(r"^[a-zA-Z0-9-_:. ]{1,255}$")
# Below 2.39 Nova still counts image metadata against the metadata_items quota.
QUOTA_UNTIL = "2.39"
BODY_FROM = "2.45"


def _invalid(field: str, value: Any, why: str) -> ApiError:
    return bad_request(f"Invalid input for field/attribute {field}. Value: {value}. {why}")


def _name(args: dict[str, Any]) -> str:
    if "name" not in args:
        raise _invalid("createImage", args, "'name' is a required property")
    name = args["name"]
    if not isinstance(name, str):
        raise _invalid("name", name, f"{name!r} is not of type 'string'")
    if not name or len(name) > 255:
        raise _invalid("name", name, "The name must be 1 to 255 characters long.")
    if name != name.strip():
        raise _invalid("name", name, "Leading or trailing whitespace is not allowed.")
    return name


def _metadata(args: dict[str, Any]) -> dict[str, str]:
    metadata = args.get("metadata", {})
    if not isinstance(metadata, dict):
        raise _invalid("metadata", metadata, f"{metadata!r} is not of type 'object'")
    for key, value in metadata.items():
        if not METADATA_KEY.match(key):
            raise _invalid("metadata", metadata, f"Additional properties are not allowed ({key!r})")
        if not isinstance(value, str) or len(value) > 255:
            raise _invalid(
                f"metadata/{key}", value, "It must be a string of at most 255 characters."
            )
    return dict(metadata)


def command_of(
    deps: ComputeDeps, who: Caller, server_id: uuid.UUID, args: Any
) -> CreateServerImage:
    if not isinstance(args, dict):
        raise _invalid("createImage", args, f"{args!r} is not of type 'object'")
    extra = sorted(set(args) - {"name", "metadata"})
    if extra:
        raise bad_request(f"Additional properties are not allowed ({extra[0]!r} was unexpected)")
    name, metadata = _name(args), _metadata(args)
    if metadata and not who.at_least(QUOTA_UNTIL):
        limit = deps.queries.quota_limits(who.project_id)["metadata_items"]
        if 0 <= limit < len(metadata):
            raise ApiError(403, "Image metadata limit exceeded")
    return CreateServerImage(server_id=server_id, name=name, metadata=metadata)


def create_image(deps: ComputeDeps, who: Caller, server_id: uuid.UUID, args: Any) -> Response:
    outcome = dispatch(deps, who, command_of(deps, who, server_id, args))
    image_id = str(outcome["image_id"])
    if who.at_least(BODY_FROM):
        return json_response({"image_id": image_id}, status=202)
    # Clients take the id from the end of this URL; Nova's default prefix is
    # its own (the image links in server bodies are built the same way).
    return Response(status_code=202, headers={"Location": f"{deps.base_url}/images/{image_id}"})
