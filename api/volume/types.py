"""/types: volume types and their extra specs (writes are admin-only)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.common.http import Call, json_response
from api.volume import render
from api.volume.support import (
    Caller,
    VolumeDeps,
    bad_request,
    body_of,
    caller,
    dispatch,
    flag,
    not_found,
    uid,
    wrap,
)
from commands.volume.types import (
    CreateVolumeType,
    DeleteVolumeType,
    SetTypeExtraSpecs,
    UpdateVolumeType,
)
from domain.volume.types import DEFAULT_TYPE, DEFAULT_TYPE_NAME
from projections.volume.queries import doc_of

Doc = dict[str, Any]
BASE = "/v3/{project_id}/types"


class TypeApi:
    def __init__(self, deps: VolumeDeps) -> None:
        self.deps = deps

    def routes(self) -> list[Route]:
        return [
            Route(BASE, wrap(self.list_types), methods=["GET"]),
            Route(BASE, wrap(self.create), methods=["POST"]),
            Route(BASE + "/{id}", wrap(self.show), methods=["GET"]),
            Route(BASE + "/{id}", wrap(self.update), methods=["PUT"]),
            Route(BASE + "/{id}", wrap(self.delete), methods=["DELETE"]),
            Route(BASE + "/{id}/extra_specs", wrap(self.specs), methods=["GET"]),
            Route(BASE + "/{id}/extra_specs", wrap(self.add_specs), methods=["POST"]),
            Route(BASE + "/{id}/extra_specs/{key}", wrap(self.spec), methods=["GET"]),
            Route(BASE + "/{id}/extra_specs/{key}", wrap(self.set_spec), methods=["PUT"]),
            Route(BASE + "/{id}/extra_specs/{key}", wrap(self.delete_spec), methods=["DELETE"]),
        ]

    def all(self, who: Caller) -> list[Doc]:
        types = [DEFAULT_TYPE, *self.deps.queries.types()]
        return [t for t in types if who.is_admin or t["is_public"]]

    def find(self, who: Caller, ref: str) -> Doc:
        if ref in ("default", DEFAULT_TYPE_NAME, DEFAULT_TYPE["id"]):
            return dict(DEFAULT_TYPE)
        found = self.deps.queries.type(ref)
        if found is None or not (who.is_admin or found["is_public"]):
            raise not_found(f"Volume type {ref} could not be found.")
        return found

    def _stored(self, who: Caller, ref: str) -> Doc:
        found = self.find(who, ref)
        if found["id"] == DEFAULT_TYPE["id"]:
            raise bad_request("The default volume type cannot be changed.")
        return found

    def list_types(self, call: Call) -> Response:
        who = caller(self.deps, call)
        return json_response({"volume_types": [render.volume_type(t) for t in self.all(who)]})

    def show(self, call: Call) -> Response:
        who = caller(self.deps, call)
        return json_response({"volume_type": render.volume_type(self.find(who, call.path["id"]))})

    def create(self, call: Call) -> Response:
        who = caller(self.deps, call)
        body = body_of(call, "volume_type")
        public = body.get("os-volume-type-access:is_public", body.get("is_public", True))
        specs = body.get("extra_specs") or {}
        if not isinstance(specs, dict):
            raise bad_request("Invalid input received: extra_specs must be a dictionary.")
        command = CreateVolumeType(
            name=str(body.get("name") or ""),
            description=body.get("description"),
            is_public=flag(public, "is_public"),
            extra_specs={str(k): str(v) for k, v in specs.items()},
        )
        outcome = dispatch(self.deps, who, command)
        return json_response(
            {"volume_type": render.volume_type(self.find(who, str(outcome["id"])))}
        )

    def update(self, call: Call) -> Response:
        who = caller(self.deps, call)
        found = self._stored(who, call.path["id"])
        body = body_of(call, "volume_type")
        public = body.get("is_public")
        command = UpdateVolumeType(
            type_id=uid(found["id"]),
            name=body.get("name"),
            description=body.get("description"),
            is_public=None if public is None else flag(public, "is_public"),
        )
        dispatch(self.deps, who, command)
        return json_response({"volume_type": render.volume_type(self.find(who, found["id"]))})

    def delete(self, call: Call) -> Response:
        who = caller(self.deps, call)
        found = self._stored(who, call.path["id"])
        volumes = map(doc_of, self.deps.queries.rows("volume_volumes", {}))
        if any((v.get("volume_type") or {}).get("id") == found["id"] for v in volumes):
            raise bad_request("Target volume type is still in use.")
        dispatch(self.deps, who, DeleteVolumeType(type_id=uid(found["id"])))
        return Response(status_code=202)

    # -- extra specs ----------------------------------------------------------------
    def specs(self, call: Call) -> Response:
        who = caller(self.deps, call)
        return json_response({"extra_specs": self.find(who, call.path["id"])["extra_specs"]})

    def _set(self, who: Caller, ref: str, specs: dict[str, Any], remove: list[str]) -> Doc:
        found = self._stored(who, ref)
        values = {str(k): str(v) for k, v in specs.items()}
        command = SetTypeExtraSpecs(type_id=uid(found["id"]), extra_specs=values, remove=remove)
        return dict(dispatch(self.deps, who, command)["extra_specs"])

    def add_specs(self, call: Call) -> Response:
        who = caller(self.deps, call)
        specs = body_of(call, "extra_specs")
        self._set(who, call.path["id"], specs, [])
        return json_response({"extra_specs": {str(k): str(v) for k, v in specs.items()}})

    def spec(self, call: Call) -> Response:
        who = caller(self.deps, call)
        specs = self.find(who, call.path["id"])["extra_specs"]
        if call.path["key"] not in specs:
            raise not_found(
                f"Volume Type {call.path['id']} has no extra specs with key {call.path['key']}."
            )
        return json_response({call.path["key"]: specs[call.path["key"]]})

    def set_spec(self, call: Call) -> Response:
        who = caller(self.deps, call)
        body = call.body if isinstance(call.body, dict) else {}
        if list(body) != [call.path["key"]]:
            raise bad_request("Request body and URI mismatch")
        self._set(who, call.path["id"], body, [])
        return json_response({call.path["key"]: str(body[call.path["key"]])})

    def delete_spec(self, call: Call) -> Response:
        who = caller(self.deps, call)
        key = call.path["key"]
        if key not in self.find(who, call.path["id"])["extra_specs"]:
            raise not_found(f"Volume Type {call.path['id']} has no extra specs with key {key}.")
        self._set(who, call.path["id"], {}, [key])
        return Response(status_code=202)
