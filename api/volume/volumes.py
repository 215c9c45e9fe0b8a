"""/volumes: list, detail, show, create, update, delete, and their metadata."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import Route

from api.common.errors import ApiError
from api.common.http import Call, json_response
from api.volume import render
from api.volume.support import (
    FALSE,
    Caller,
    VolumeDeps,
    bad_request,
    body_of,
    caller,
    dispatch,
    flag,
    integer,
    limit_of,
    not_found,
    uid,
    wrap,
)
from commands.volume.volumes import CreateVolume, DeleteVolume, UpdateVolume
from domain.volume.states import VOLUME_STATUSES

Doc = dict[str, Any]
BASE = "/v3/{project_id}/volumes"


class VolumeApi:
    def __init__(self, deps: VolumeDeps) -> None:
        self.deps = deps

    def routes(self) -> list[Route]:
        return [
            Route(BASE, wrap(self.list_brief), methods=["GET"]),
            Route(BASE, wrap(self.create), methods=["POST"]),
            Route(BASE + "/detail", wrap(self.list_detail), methods=["GET"]),
            Route(BASE + "/{id}", wrap(self.show), methods=["GET"]),
            Route(BASE + "/{id}", wrap(self.update), methods=["PUT"]),
            Route(BASE + "/{id}", wrap(self.delete), methods=["DELETE"]),
            Route(BASE + "/{id}/metadata", wrap(self.metadata), methods=["GET"]),
            Route(BASE + "/{id}/metadata", wrap(self.merge_metadata), methods=["POST"]),
            Route(BASE + "/{id}/metadata", wrap(self.replace_metadata), methods=["PUT"]),
            Route(BASE + "/{id}/metadata/{key}", wrap(self.metadata_item), methods=["GET"]),
            Route(BASE + "/{id}/metadata/{key}", wrap(self.set_item), methods=["PUT"]),
            Route(BASE + "/{id}/metadata/{key}", wrap(self.delete_item), methods=["DELETE"]),
        ]

    # -- reads ------------------------------------------------------------------
    def visible(self, who: Caller, volume_id: str) -> Doc:
        doc = self.deps.queries.volume(volume_id, who.scope())
        if doc is None:
            raise not_found(f"Volume {volume_id} could not be found.")
        return doc

    def detail(self, who: Caller, doc: Doc) -> Doc:
        attachments = self.deps.queries.attachments_of([doc["id"]])[doc["id"]]
        return render.volume_detail(doc, who, self.deps.base_url, attachments)

    def _page(self, call: Call, who: Caller, path: str) -> tuple[list[Doc], list[Doc]]:
        q = call.query
        where: dict[str, Any] = {}
        everyone = who.is_admin and q.get("all_tenants", "0").lower() not in FALSE
        if not everyone:
            where["project_id"] = who.project_id
        if who.is_admin and q.get("project_id"):
            where["project_id"] = q["project_id"]
        if q.get("name"):
            where["name"] = q["name"]
        if q.get("status"):
            if q["status"].lower() not in VOLUME_STATUSES:
                return [], []
            where["status"] = q["status"].lower()
        limit = limit_of(call)
        page, more = self.deps.queries.page("volume_volumes", where, q.get("marker"), limit)
        next_links: list[Doc] = []
        if page and more:
            query = {k: v for k, v in q.items() if k != "marker"}
            query.update(limit=str(limit), marker=page[-1]["id"])
            href = f"{self.deps.base_url}/v3/{who.project_in_url}/{path}?{urlencode(query)}"
            next_links = [{"rel": "next", "href": href}]
        return page, next_links

    def list_brief(self, call: Call) -> Response:
        who = caller(self.deps, call)
        page, next_links = self._page(call, who, "volumes")
        body: Doc = {"volumes": [render.volume_brief(d, who, self.deps.base_url) for d in page]}
        if next_links:
            body["volumes_links"] = next_links
        return json_response(body)

    def list_detail(self, call: Call) -> Response:
        who = caller(self.deps, call)
        page, next_links = self._page(call, who, "volumes/detail")
        attachments = self.deps.queries.attachments_of([d["id"] for d in page])
        volumes = [
            render.volume_detail(d, who, self.deps.base_url, attachments.get(d["id"], []))
            for d in page
        ]
        body: Doc = {"volumes": volumes}
        if next_links:
            body["volumes_links"] = next_links
        return json_response(body)

    def show(self, call: Call) -> Response:
        who = caller(self.deps, call)
        return json_response({"volume": self.detail(who, self.visible(who, call.path["id"]))})

    # -- writes -------------------------------------------------------------------
    def create(self, call: Call) -> Response:
        who = caller(self.deps, call)
        body = body_of(call, "volume")
        size = body.get("size")
        values: dict[str, Any] = {
            "size": None if size is None else integer(size, "size"),
            "name": _text(body, "name") or _text(body, "display_name"),
            "description": _text(body, "description") or _text(body, "display_description"),
            "image_id": _text(body, "imageRef") or _text(body, "image_id"),
            "snapshot_id": body.get("snapshot_id") or None,
            "source_volid": body.get("source_volid") or None,
            "volume_type": _text(body, "volume_type"),
            "availability_zone": _text(body, "availability_zone"),
            "metadata": body.get("metadata") or {},
            "multiattach": flag(body.get("multiattach", False), "multiattach"),
        }
        if values["size"] is None and not (values["snapshot_id"] or values["source_volid"]):
            raise bad_request("Invalid input received: size must be given for a new volume.")
        if values["size"] is not None and values["size"] < 1:
            raise bad_request(
                f"Invalid input received: Volume size '{values['size']}' must be an integer "
                "and greater than 0."
            )
        self._check_quota(who, values["size"] or 0)
        outcome = dispatch(self.deps, who, CreateVolume(**values))
        doc = self.visible(who, str(outcome["id"]))
        return json_response({"volume": self.detail(who, doc)}, 202)

    def _check_quota(self, who: Caller, size: int) -> None:
        limits = self.deps.queries.quota_limits(who.project_id)
        usage = self.deps.queries.usage(who.project_id)
        if 0 <= limits["volumes"] <= usage["volumes"]:
            raise ApiError(
                413,
                f"VolumeLimitExceeded: Maximum number of volumes allowed ({limits['volumes']}) "
                "exceeded for quota 'volumes'.",
            )
        if 0 <= limits["gigabytes"] < usage["gigabytes"] + size:
            raise ApiError(
                413,
                f"VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed "
                f"gigabytes quota. Requested {size}G, quota is {limits['gigabytes']}G and "
                f"{usage['gigabytes']}G has been consumed.",
            )

    def update(self, call: Call) -> Response:
        who = caller(self.deps, call)
        body = body_of(call, "volume")
        self.visible(who, call.path["id"])
        metadata = body.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise bad_request("Invalid input received: metadata must be a dictionary.")
        dispatch(
            self.deps,
            who,
            UpdateVolume(
                volume_id=uid(call.path["id"]),
                name=_text(body, "name") if "name" in body else _text(body, "display_name"),
                description=_text(body, "description"),
                metadata=metadata,
            ),
        )
        return self.show(call)

    def delete(self, call: Call) -> Response:
        who = caller(self.deps, call)
        self.visible(who, call.path["id"])
        if call.query.get("cascade", "false").lower() not in FALSE:
            raise bad_request("Invalid input received: cascade delete is not supported.")
        dispatch(self.deps, who, DeleteVolume(volume_id=uid(call.path["id"])))
        return Response(status_code=202)

    # -- metadata -----------------------------------------------------------------
    def metadata(self, call: Call) -> Response:
        who = caller(self.deps, call)
        return json_response({"metadata": self.visible(who, call.path["id"]).get("metadata", {})})

    def _set_metadata(self, call: Call, merge: bool) -> Response:
        who = caller(self.deps, call)
        metadata = body_of(call, "metadata")
        self.visible(who, call.path["id"])
        command = UpdateVolume(
            volume_id=uid(call.path["id"]), metadata=metadata, merge_metadata=merge
        )
        outcome = dispatch(self.deps, who, command)
        return json_response({"metadata": outcome["metadata"]})

    def merge_metadata(self, call: Call) -> Response:
        return self._set_metadata(call, merge=True)

    def replace_metadata(self, call: Call) -> Response:
        return self._set_metadata(call, merge=False)

    def metadata_item(self, call: Call) -> Response:
        who = caller(self.deps, call)
        metadata = self.visible(who, call.path["id"]).get("metadata", {})
        if call.path["key"] not in metadata:
            raise not_found("Metadata item was not found")
        return json_response({"meta": {call.path["key"]: metadata[call.path["key"]]}})

    def set_item(self, call: Call) -> Response:
        who = caller(self.deps, call)
        meta = body_of(call, "meta")
        if list(meta) != [call.path["key"]]:
            raise bad_request("Request body and URI mismatch")
        command = UpdateVolume(volume_id=uid(call.path["id"]), metadata=meta, merge_metadata=True)
        dispatch(self.deps, who, command)
        return json_response({"meta": meta})

    def delete_item(self, call: Call) -> Response:
        who = caller(self.deps, call)
        key = call.path["key"]
        if key not in self.visible(who, call.path["id"]).get("metadata", {}):
            raise not_found("Metadata item was not found")
        dispatch(
            self.deps, who, UpdateVolume(volume_id=uid(call.path["id"]), remove_metadata=[key])
        )
        return Response(status_code=200)


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"Invalid input received: {key} must be a string.")
    return value
