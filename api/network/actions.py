"""Router interface actions and resource tags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.common.http import Call, json_response
from api.network.errors import NeutronApiError, bad_request, guarded
from api.network.specs import SPECS
from api.network.support import (
    NetworkDeps,
    body_of,
    caller,
    dispatch,
    expected_revision,
    floating_ips_through,
    present,
    uuid_of,
)
from commands.network import extra_routes, routers
from commands.network.admin import TAGGABLE, ChangeTags
from domain.network.errors import NeutronNotFound

Wrap = Callable[[Callable[[Call], Response]], Any]


class ActionApi:
    def __init__(self, deps: NetworkDeps, wrap: Wrap) -> None:
        self.deps = deps
        self.wrap = wrap

    def routes(self) -> list[Route]:
        out = [
            Route(
                "/v2.0/routers/{id}/add_router_interface",
                self.wrap(guarded(self.add_interface)),
                methods=["PUT"],
            ),
            Route(
                "/v2.0/routers/{id}/remove_router_interface",
                self.wrap(guarded(self.remove_interface)),
                methods=["PUT"],
            ),
            Route(
                "/v2.0/routers/{id}/add_extraroutes",
                self.wrap(guarded(self._extraroutes(extra_routes.AddExtraRoutes))),
                methods=["PUT"],
            ),
            Route(
                "/v2.0/routers/{id}/remove_extraroutes",
                self.wrap(guarded(self._extraroutes(extra_routes.RemoveExtraRoutes))),
                methods=["PUT"],
            ),
        ]
        for collection in TAGGABLE:
            base = f"/v2.0/{collection}/{{id}}/tags"
            out += [
                Route(base, self.wrap(guarded(self._tags(collection, "list"))), methods=["GET"]),
                Route(base, self.wrap(guarded(self._tags(collection, "replace"))), methods=["PUT"]),
                Route(
                    base, self.wrap(guarded(self._tags(collection, "clear"))), methods=["DELETE"]
                ),
                Route(
                    base + "/{tag}",
                    self.wrap(guarded(self._tags(collection, "check"))),
                    methods=["GET"],
                ),
                Route(
                    base + "/{tag}",
                    self.wrap(guarded(self._tags(collection, "add"))),
                    methods=["PUT"],
                ),
                Route(
                    base + "/{tag}",
                    self.wrap(guarded(self._tags(collection, "remove"))),
                    methods=["DELETE"],
                ),
            ]
        return out

    # -- router interfaces (200 and an unwrapped body, as gophercloud expects) --
    def _interface_ids(self, call: Call) -> dict[str, Any]:
        if not isinstance(call.body, dict) or not call.body:
            raise bad_request("Bad router request: Either subnet_id or port_id must be specified.")
        unknown = set(call.body) - {"subnet_id", "port_id"}
        if unknown:
            raise bad_request(f"Unrecognized attribute(s) '{', '.join(sorted(unknown))}'")
        return {
            "router_id": uuid_of(call.path["id"], "router"),
            "subnet_id": call.body.get("subnet_id"),
            "port_id": call.body.get("port_id"),
        }

    def add_interface(self, call: Call) -> Response:
        who = caller(self.deps, call)
        command = routers.AddRouterInterface(**self._interface_ids(call))
        return json_response(dispatch(self.deps, who, command))

    def remove_interface(self, call: Call) -> Response:
        who = caller(self.deps, call)
        command = routers.RemoveRouterInterface(**self._interface_ids(call))
        self._check_floating_ips(command)
        return json_response(dispatch(self.deps, who, command))

    def _check_floating_ips(self, command: routers.RemoveRouterInterface) -> None:
        """Floating IPs reach their ports through the interface: it must stay."""
        subnets = {str(command.subnet_id)} if command.subnet_id else set()
        if command.port_id is not None:
            port = self.deps.queries.get("ports", str(command.port_id), None) or {}
            subnets |= {f["subnet_id"] for f in port.get("fixed_ips", [])}
        for fip in floating_ips_through(self.deps, str(command.router_id)):
            port = self.deps.queries.get("ports", fip["port_id"], None) or {}
            if subnets & {f["subnet_id"] for f in port.get("fixed_ips", [])}:
                raise NeutronApiError(
                    409,
                    f"Router interface for subnet {sorted(subnets)[0]} on router "
                    f"{command.router_id} cannot be deleted, as it is required by one or "
                    "more floating IPs.",
                    "RouterInterfaceInUseByFloatingIP",
                )

    # -- extraroute-atomic: add or remove routes without a read-modify-write --
    def _extraroutes(
        self, command: type[extra_routes.AddExtraRoutes | extra_routes.RemoveExtraRoutes]
    ) -> Callable[[Call], Response]:
        def run(call: Call) -> Response:
            who = caller(self.deps, call)
            ident = uuid_of(call.path["id"], "router")
            body = body_of(call, "router")
            unknown = set(body) - {"routes"}
            if unknown or "routes" not in body:
                raise bad_request(
                    f"Unrecognized attribute(s) '{', '.join(sorted(unknown))}'"
                    if unknown
                    else "Bad router request: 'routes' is required."
                )
            change = command(
                router_id=ident, routes=body["routes"], expected_revision=expected_revision(call)
            )
            dispatch(self.deps, who, change)
            doc = self.deps.queries.get("routers", str(ident), who.scope)
            if doc is None:
                raise NeutronNotFound("router", ident)
            return json_response({"router": present(doc, who)})

        return run

    # -- tags -------------------------------------------------------------------
    def _tags(self, collection: str, action: str) -> Callable[[Call], Response]:
        spec = SPECS[collection]

        def run(call: Call) -> Response:
            who = caller(self.deps, call)
            ident = uuid_of(call.path["id"], spec.kind)
            doc = self.deps.queries.get(collection, str(ident), who.scope)
            if doc is None:
                raise NeutronNotFound(spec.kind, ident)
            tag = call.path.get("tag", "")
            if action == "list":
                return json_response({"tags": doc.get("tags", [])})
            if action == "check":
                if tag not in doc.get("tags", []):
                    raise NeutronNotFound("tag", tag, "TagNotFound")
                return Response(status_code=204)
            change: dict[str, Any] = {"collection": collection, "resource_id": ident}
            if action == "replace":
                tags = call.body.get("tags") if isinstance(call.body, dict) else None
                if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                    raise bad_request("Invalid input: 'tags' must be a list of strings.")
                change["replace"] = tags
            elif action == "clear":
                change["replace"] = []
            elif action == "add":
                change["add"] = [tag]
            else:
                change["remove"] = [tag]
            outcome = dispatch(self.deps, who, ChangeTags(**change))
            if action == "replace":
                return json_response({"tags": outcome["tags"]})
            return Response(status_code=201 if action == "add" else 204)

        return run
