"""Create, list, show, patch and delete images; tags and (de)activation."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.common.errors import ApiError
from api.common.http import Call, json_response
from api.image import listing, patch
from api.image.errors import bad_request, forbidden, unsupported_media
from api.image.render import image_doc
from api.image.support import ImageDeps, caller, dispatch, image_uuid, visible_row
from commands.image import images as cmds
from domain.image import rules

# Glance refuses these outright on create, before looking at anything else.
DISALLOWED = ("direct_url", "self", "file", "schema", "stores", "locations")


class ImageApi:
    def __init__(self, deps: ImageDeps, wrap: Callable[[Callable[[Call], Response]], Any]) -> None:
        self.deps = deps
        self.wrap = wrap

    def routes(self) -> list[Route]:
        one = "/v2/images/{image_id}"
        return [
            Route("/v2/images", self.wrap(self.list), methods=["GET"]),
            Route("/v2/images", self.wrap(self.create), methods=["POST"]),
            Route(one, self.wrap(self.show), methods=["GET"]),
            Route(one, self.wrap(self.update), methods=["PATCH"]),
            Route(one, self.wrap(self.delete), methods=["DELETE"]),
            Route(one + "/actions/deactivate", self.wrap(self.deactivate), methods=["POST"]),
            Route(one + "/actions/reactivate", self.wrap(self.reactivate), methods=["POST"]),
            Route(one + "/tags/{tag}", self.wrap(self.add_tag), methods=["PUT"]),
            Route(one + "/tags/{tag}", self.wrap(self.remove_tag), methods=["DELETE"]),
        ]

    def _doc(self, image_id: object) -> dict[str, Any]:
        row = self.deps.queries.get(str(image_id))
        if row is None:  # deleted between the write and this read
            raise ApiError(404, f"No image found with ID {image_id}")
        return image_doc(row)

    # -- reads ---------------------------------------------------------------
    def list(self, call: Call) -> Response:
        who = caller(self.deps, call)
        wanted = listing.image_filter(call)
        try:
            rows = self.deps.queries.list(who.viewer, wanted)
        except LookupError as error:
            raise bad_request(f"No image found with ID {wanted.marker}") from error
        first = listing.first_link(call)
        body: dict[str, Any] = {
            "images": [image_doc(r) for r in rows],
            "first": first,
            "schema": "/v2/schemas/images",
        }
        if rows and len(rows) == wanted.limit:
            body["next"] = listing.next_link(call, rows[-1]["id"])
        return json_response(body)

    def show(self, call: Call) -> Response:
        who = caller(self.deps, call)
        return json_response(image_doc(visible_row(self.deps, who, call.path["image_id"])))

    # -- writes --------------------------------------------------------------
    def create(self, call: Call) -> Response:
        who = caller(self.deps, call)
        body = call.body
        if not isinstance(body, dict):
            raise bad_request("Body expected in request.")
        for key in DISALLOWED:
            if key in body:
                raise forbidden(f"Attribute '{key}' is read-only.")
        rules.check_reserved([k for k in body if k != "id"])
        core = {k: body[k] for k in rules.CORE if k in body}
        properties = {
            k: v
            for k, v in body.items()
            if k not in rules.CORE and k != "id" and not (k in rules.UUID_PROPERTIES and v is None)
        }
        rules.check_core(core)
        rules.check_properties(properties)
        if core.get("tags") is None:
            core.pop("tags", None)
        for key in ("visibility", "protected", "os_hidden", "min_disk", "min_ram"):
            if key in core and core[key] is None:
                raise bad_request(f"Invalid value None for '{key}'.")
        command = cmds.CreateImage(
            image_id=_image_id(body.get("id")), properties=properties, **core
        )
        outcome = dispatch(self.deps, who, command)
        location = f"{self.deps.base_url}/v2/images/{outcome['id']}"
        return json_response(self._doc(outcome["id"]), 201, {"Location": location})

    def update(self, call: Call) -> Response:
        who = caller(self.deps, call)
        content_type = (call.header("Content-Type") or "").split(";")[0].strip()
        if content_type not in patch.MEDIA_TYPES:
            raise unsupported_media(content_type)
        row = visible_row(self.deps, who, call.path["image_id"])
        changes = patch.changes_from(row, call.body)
        image_id = image_uuid(row["id"])
        dispatch(self.deps, who, cmds.UpdateImage(image_id=image_id, changes=changes))
        return json_response(self._doc(image_id))

    def delete(self, call: Call) -> Response:
        who = caller(self.deps, call)
        image_id = image_uuid(call.path["image_id"])
        dispatch(self.deps, who, cmds.DeleteImage(image_id=image_id))
        # The log says the image is gone; its bytes go now (a crash in
        # between leaves a file that the store's sweep removes later).
        self.deps.store.remove(str(image_id))
        return Response(status_code=204)

    def deactivate(self, call: Call) -> Response:
        return self._simple(call, cmds.DeactivateImage)

    def reactivate(self, call: Call) -> Response:
        return self._simple(call, cmds.ReactivateImage)

    def _simple(
        self, call: Call, command: type[cmds.DeactivateImage | cmds.ReactivateImage]
    ) -> Response:
        who = caller(self.deps, call)
        dispatch(self.deps, who, command(image_id=image_uuid(call.path["image_id"])))
        return Response(status_code=204)

    def add_tag(self, call: Call) -> Response:
        who = caller(self.deps, call)
        image_id = image_uuid(call.path["image_id"])
        dispatch(self.deps, who, cmds.AddImageTag(image_id=image_id, tag=call.path["tag"]))
        return Response(status_code=204)

    def remove_tag(self, call: Call) -> Response:
        who = caller(self.deps, call)
        image_id = image_uuid(call.path["image_id"])
        dispatch(self.deps, who, cmds.RemoveImageTag(image_id=image_id, tag=call.path["tag"]))
        return Response(status_code=204)


def _image_id(value: Any) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError as error:
        raise bad_request(
            f"Provided object does not match schema 'image': {value!r} is not a UUID (id)."
        ) from error
