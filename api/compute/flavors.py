"""/flavors: list and show for everyone; create, update, delete, access and
extra specs for admins."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.common.http import Call, json_response
from api.compute import render
from api.compute.support import (
    Caller,
    ComputeDeps,
    bad_request,
    body_of,
    caller,
    dispatch,
    limit_of,
    min_version,
    not_found,
    require_admin,
    wrap,
)
from commands.compute.flavors import (
    ChangeFlavorAccess,
    CreateFlavor,
    DeleteFlavor,
    SetExtraSpecs,
    UnsetExtraSpec,
    UpdateFlavor,
)

Doc = dict[str, Any]
FLAVOR_MANAGE = "os_compute_api:os-flavor-manage"


def _int(body: Doc, key: str, default: int | None = None) -> int:
    value = body.get(key, default)
    if value is None or value == "":
        if default is None:
            raise bad_request(f"Invalid input for field/attribute {key}. Value: None.")
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as error:
        raise bad_request(f"Invalid input for field/attribute {key}. Value: {value}.") from error


class FlavorApi:
    def __init__(self, deps: ComputeDeps) -> None:
        self.deps = deps

    def routes(self) -> list[Route]:
        base = "/v2.1/flavors"
        specs = base + "/{id}/os-extra_specs"
        return [
            Route(base, wrap(self.list_brief), methods=["GET"]),
            Route(base, wrap(self.create), methods=["POST"]),
            Route(base + "/detail", wrap(self.list_detail), methods=["GET"]),
            Route(base + "/{id}", wrap(self.show), methods=["GET"]),
            Route(base + "/{id}", wrap(self.update), methods=["PUT"]),
            Route(base + "/{id}", wrap(self.delete), methods=["DELETE"]),
            Route(base + "/{id}/action", wrap(self.access_action), methods=["POST"]),
            Route(base + "/{id}/os-flavor-access", wrap(self.access_list), methods=["GET"]),
            Route(specs, wrap(self.specs), methods=["GET"]),
            Route(specs, wrap(self.add_specs), methods=["POST"]),
            Route(specs + "/{key}", wrap(self.spec), methods=["GET"]),
            Route(specs + "/{key}", wrap(self.put_spec), methods=["PUT"]),
            Route(specs + "/{key}", wrap(self.delete_spec), methods=["DELETE"]),
        ]

    # -- reads ----------------------------------------------------------------
    def _usable(self, who: Caller, doc: Doc) -> bool:
        return bool(doc["is_public"]) or who.is_admin or who.project_id in doc["projects"]

    def visible(self, who: Caller, flavorid: str) -> Doc:
        doc = self.deps.queries.flavor(flavorid)
        if doc is None or not self._usable(who, doc):
            raise not_found(f"Flavor {flavorid} could not be found.")
        return doc

    def _listed(self, call: Call, who: Caller) -> list[Doc]:
        q = call.query
        public = q.get("is_public", "true").lower()
        docs = self.deps.queries.flavors()
        if public in ("none", ""):
            docs = docs if who.is_admin else [d for d in docs if self._usable(who, d)]
        elif public in ("false", "0", "no", "f", "off"):
            docs = [d for d in docs if not d["is_public"] and self._usable(who, d)]
        elif who.is_admin:
            docs = [d for d in docs if d["is_public"]]
        else:
            docs = [d for d in docs if self._usable(who, d)]
        if q.get("minRam"):
            docs = [d for d in docs if d["ram"] >= _int(q, "minRam")]
        if q.get("minDisk"):
            docs = [d for d in docs if d["disk"] >= _int(q, "minDisk")]
        marker = q.get("marker")
        if marker:
            ids = [d["flavorid"] for d in docs]
            if marker not in ids:
                raise bad_request(f"marker [{marker}] not found")
            docs = docs[ids.index(marker) + 1 :]
        return docs[: limit_of(call)]

    def list_brief(self, call: Call) -> Response:
        who = caller(self.deps, call)
        docs = self._listed(call, who)
        return json_response(
            {"flavors": [render.flavor_view(d, who, self.deps.base_url, False) for d in docs]}
        )

    def list_detail(self, call: Call) -> Response:
        who = caller(self.deps, call)
        docs = self._listed(call, who)
        return json_response(
            {"flavors": [render.flavor_view(d, who, self.deps.base_url) for d in docs]}
        )

    def show(self, call: Call) -> Response:
        who = caller(self.deps, call)
        doc = self.visible(who, call.path["id"])
        return json_response({"flavor": render.flavor_view(doc, who, self.deps.base_url)})

    # -- admin --------------------------------------------------------------------
    def create(self, call: Call) -> Response:
        who = caller(self.deps, call)
        require_admin(who, f"{FLAVOR_MANAGE}:create")
        body = body_of(call, "flavor")
        if "description" in body and not who.at_least("2.55"):
            raise bad_request(
                "Additional properties are not allowed ('description' was unexpected)"
            )
        flavorid = body.get("id")
        command = CreateFlavor(
            name=str(body.get("name") or ""),
            vcpus=_int(body, "vcpus"),
            ram=_int(body, "ram"),
            disk=_int(body, "disk"),
            flavorid=None if flavorid is None else str(flavorid),
            ephemeral=_int(body, "OS-FLV-EXT-DATA:ephemeral", 0),
            swap=_int(body, "swap", 0),
            rxtx_factor=float(body.get("rxtx_factor", 1.0)),
            is_public=bool(body.get("os-flavor-access:is_public", True)),
            description=body.get("description"),
        )
        created = dispatch(self.deps, who, command)["id"]
        doc = self.visible(who, created)
        return json_response({"flavor": render.flavor_view(doc, who, self.deps.base_url)})

    def update(self, call: Call) -> Response:
        who = caller(self.deps, call)
        min_version(who, "2.55")
        require_admin(who, f"{FLAVOR_MANAGE}:update")
        body = body_of(call, "flavor")
        if set(body) != {"description"}:
            raise bad_request("Invalid input for field/attribute flavor.")
        dispatch(
            self.deps, who, UpdateFlavor(flavorid=call.path["id"], description=body["description"])
        )
        doc = self.visible(who, call.path["id"])
        return json_response({"flavor": render.flavor_view(doc, who, self.deps.base_url)})

    def delete(self, call: Call) -> Response:
        who = caller(self.deps, call)
        require_admin(who, f"{FLAVOR_MANAGE}:delete")
        dispatch(self.deps, who, DeleteFlavor(flavorid=call.path["id"]))
        return Response(status_code=202)

    # -- access --------------------------------------------------------------------
    def access_list(self, call: Call) -> Response:
        who = caller(self.deps, call)
        doc = self.visible(who, call.path["id"])
        if doc["is_public"]:
            raise not_found("Access list not available for public flavors.")
        access = [{"flavor_id": doc["flavorid"], "tenant_id": p} for p in doc["projects"]]
        return json_response({"flavor_access": access})

    def access_action(self, call: Call) -> Response:
        who = caller(self.deps, call)
        require_admin(who, "os_compute_api:os-flavor-access")
        body = call.body if isinstance(call.body, dict) else {}
        for name, grant in (("addTenantAccess", True), ("removeTenantAccess", False)):
            if isinstance(body.get(name), dict) and isinstance(body[name].get("tenant"), str):
                command = ChangeFlavorAccess(
                    flavorid=call.path["id"], project_id=body[name]["tenant"], grant=grant
                )
                return json_response(dispatch(self.deps, who, command))
        raise bad_request("Invalid input for flavor access action.")

    # -- extra specs -------------------------------------------------------------------
    def specs(self, call: Call) -> Response:
        who = caller(self.deps, call)
        return json_response({"extra_specs": self.visible(who, call.path["id"])["extra_specs"]})

    def spec(self, call: Call) -> Response:
        who = caller(self.deps, call)
        specs = self.visible(who, call.path["id"])["extra_specs"]
        key = call.path["key"]
        if key not in specs:
            raise not_found(f"Flavor {call.path['id']} has no extra specs with key {key}.")
        return json_response({key: specs[key]})

    def _set(self, call: Call, specs: Any) -> Doc:
        who = caller(self.deps, call)
        if not isinstance(specs, dict) or not specs:
            raise bad_request("Invalid input for field/attribute extra_specs.")
        command = SetExtraSpecs(
            flavorid=call.path["id"], extra_specs={str(k): str(v) for k, v in specs.items()}
        )
        return dispatch(self.deps, who, command)

    def add_specs(self, call: Call) -> Response:
        specs = call.body.get("extra_specs") if isinstance(call.body, dict) else None
        return json_response({"extra_specs": self._set(call, specs)["extra_specs"]})

    def put_spec(self, call: Call) -> Response:
        body = call.body if isinstance(call.body, dict) else {}
        key = call.path["key"]
        if set(body) != {key}:
            raise bad_request("Request body and URI mismatch")
        self._set(call, body)
        return json_response({key: str(body[key])})

    def delete_spec(self, call: Call) -> Response:
        who = caller(self.deps, call)
        dispatch(self.deps, who, UnsetExtraSpec(flavorid=call.path["id"], key=call.path["key"]))
        return Response(status_code=202)
