"""List, show, create, update and delete for every Neutron collection."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.common.http import Call, json_response
from api.network import listing
from api.network.errors import NeutronApiError, guarded
from api.network.specs import SPECS, Spec, command_fields
from api.network.support import (
    Caller,
    NetworkDeps,
    body_of,
    bulk_bodies,
    caller,
    check_quota,
    dispatch,
    expected_revision,
    floating_ips_through,
    present,
    uuid_of,
)
from commands.bus import Command
from commands.network import bulk, floatingips, networks, ports, routers, security
from domain.network.errors import NeutronNotFound
from domain.network.security_groups import default_group_id

Doc = dict[str, Any]
CREATE_EXCLUDE = {"expected_revision", "dhcp_port_ids", "router_id"}
ROUTER_OWNED = {"network:router_interface", "network:router_gateway", "network:floatingip"}


class CollectionApi:
    def __init__(
        self, deps: NetworkDeps, wrap: Callable[[Callable[[Call], Response]], Any]
    ) -> None:
        self.deps = deps
        self.wrap = wrap

    def routes(self) -> list[Route]:
        out = []
        for name, spec in SPECS.items():
            base = f"/v2.0/{name}"
            out += [
                Route(base, self.wrap(self._bind(self.list, spec)), methods=["GET"]),
                Route(base, self.wrap(self._bind(self.create, spec)), methods=["POST"]),
                Route(base + "/{id}", self.wrap(self._bind(self.show, spec)), methods=["GET"]),
                Route(base + "/{id}", self.wrap(self._bind(self.update, spec)), methods=["PUT"]),
                Route(base + "/{id}", self.wrap(self._bind(self.delete, spec)), methods=["DELETE"]),
            ]
        return out

    @staticmethod
    def _bind(method: Callable[[Call, Spec], Response], spec: Spec) -> Callable[[Call], Response]:
        return guarded(lambda call: method(call, spec))

    # -- reads --------------------------------------------------------------
    def list(self, call: Call, spec: Spec) -> Response:
        who = caller(self.deps, call)
        self._ensure_default_group(who, spec)
        equals = listing.sql_filters(call, set(spec.columns))
        window = listing.sql_window(call, set(spec.columns))
        if window is not None:
            docs = self.deps.queries.select(spec.collection, who.scope, equals, window)
            chosen, links = listing.window_page(
                docs, window, call, spec.collection, self.deps.base_url
            )
        else:
            docs = self.deps.queries.select(spec.collection, who.scope, equals)
            docs = listing.ordered(listing.filtered(docs, call), call)
            chosen, links = listing.page(docs, call, spec.collection, self.deps.base_url)
        body: Doc = {spec.plural_key: [listing.with_fields(present(d, who), call) for d in chosen]}
        if links:
            body[f"{spec.plural_key}_links"] = links
        return json_response(body)

    def show(self, call: Call, spec: Spec) -> Response:
        who = caller(self.deps, call)
        self._ensure_default_group(who, spec)
        doc = self._visible(who, spec, call.path["id"])
        return json_response({spec.singular: listing.with_fields(present(doc, who), call)})

    def _visible(self, who: Caller, spec: Spec, ident: str) -> Doc:
        doc = self.deps.queries.get(spec.collection, ident, who.scope)
        if doc is None:
            raise NeutronNotFound(spec.kind, ident)
        return doc

    def _ensure_default_group(self, who: Caller, spec: Spec) -> None:
        """Neutron creates a project's `default` group when it first looks."""
        if spec.collection not in ("security-groups", "security-group-rules") or not who.project_id:
            return
        if (
            self.deps.queries.get("security-groups", str(default_group_id(who.project_id)), None)
            is None
        ):
            dispatch(self.deps, who, security.EnsureDefaultSecurityGroup(project_id=who.project_id))

    # -- writes -------------------------------------------------------------
    def create(self, call: Call, spec: Spec) -> Response:
        who = caller(self.deps, call)
        items = bulk_bodies(call, spec.singular, spec.plural_key)
        if items is not None:
            return self._create_many(who, spec, items)
        command = self._create_command(who, spec, body_of(call, spec.singular))
        self._check_quotas(who, spec, [command])
        outcome = dispatch(self.deps, who, command)
        doc = self.deps.queries.get(spec.collection, str(outcome["id"]), None)
        return json_response({spec.singular: present(doc or {}, who)}, 201)

    def _create_many(self, who: Caller, spec: Spec, items: Sequence[Doc]) -> Response:
        """Neutron's bulk create: every item validated first, then one
        transaction, the answer in the order of the request."""
        commands = [self._create_command(who, spec, item) for item in items]
        self._check_quotas(who, spec, commands)
        outcome = dispatch(self.deps, who, bulk.CreateMany(items=commands))
        docs = [self.deps.queries.get(spec.collection, str(i), None) for i in outcome["ids"]]
        return json_response({spec.plural_key: [present(d or {}, who) for d in docs]}, 201)

    def _create_command(self, who: Caller, spec: Spec, body: Doc) -> Command:
        assert spec.create is not None
        fields = command_fields(body, spec.create, spec, CREATE_EXCLUDE)
        command = spec.create(**fields)  # validated before anything looks at the values
        if isinstance(command, floatingips.CreateFloatingIp) and command.port_id is not None:
            router = self._router_for(str(command.floating_network_id), str(command.port_id))
            command = command.model_copy(update={"router_id": router})
        return command

    def _check_quotas(self, who: Caller, spec: Spec, commands: Sequence[Command]) -> None:
        if spec.quota is None:
            return
        projects: dict[str, int] = {}
        for command in commands:
            if getattr(command, "device_owner", "") in ROUTER_OWNED:
                continue
            project = str(getattr(command, "project_id", None) or who.project_id)
            projects[project] = projects.get(project, 0) + 1
        for project, adding in projects.items():
            check_quota(self.deps, project, spec.quota, spec.collection, adding)

    def update(self, call: Call, spec: Spec) -> Response:
        who = caller(self.deps, call)
        if spec.update is None:
            raise NeutronApiError(
                405, "Updating this resource is not supported.", "HTTPMethodNotAllowed"
            )
        ident = uuid_of(call.path["id"], spec.kind)
        body = body_of(call, spec.singular)
        fields = command_fields(
            body, spec.update, spec, {spec.id_field, "expected_revision", "router_id"}
        )
        fields[spec.id_field] = ident
        fields["expected_revision"] = expected_revision(call)
        command = spec.update(**fields)
        if isinstance(command, floatingips.UpdateFloatingIp) and command.port_id is not None:
            current = self._visible(who, spec, str(ident))
            router = self._router_for(current["floating_network_id"], str(command.port_id))
            command = command.model_copy(update={"router_id": router})
        if isinstance(command, routers.UpdateRouter) and "gateway" in command.model_fields_set:
            wanted = command.gateway.network_id if command.gateway is not None else None
            self._check_gateway_change(str(ident), str(wanted) if wanted else None)
        dispatch(self.deps, who, command)
        return json_response({spec.singular: present(self._visible(who, spec, str(ident)), who)})

    def _check_gateway_change(self, router_id: str, wanted: str | None) -> None:
        current = self.deps.queries.get("routers", router_id, None) or {}
        network = (current.get("external_gateway_info") or {}).get("network_id")
        if network and wanted != network and floating_ips_through(self.deps, router_id):
            raise NeutronApiError(
                409,
                f"Gateway cannot be updated for router {router_id}, since a gateway to "
                f"external network {network} is required by one or more floating IPs.",
                "RouterExternalGatewayInUseByFloatingIp",
            )

    def delete(self, call: Call, spec: Spec) -> Response:
        who = caller(self.deps, call)
        ident = uuid_of(call.path["id"], spec.kind)
        command = self._delete_command(who, spec, ident)
        revision = expected_revision(call)
        if revision is not None:
            # Checked by the handler, inside the transaction that deletes.
            command = command.model_copy(update={"expected_revision": revision})
        dispatch(self.deps, who, command)
        return Response(status_code=204)

    def _delete_command(self, who: Caller, spec: Spec, ident: uuid.UUID) -> Command:
        q = self.deps.queries
        if spec.collection == "networks":
            self._visible(who, spec, str(ident))
            attached = q.ports_of_network(str(ident))
            if any(p["device_owner"] != "network:dhcp" for p in attached):
                raise NeutronApiError(
                    409,
                    f"Unable to complete operation on network {ident}. "
                    "There are one or more ports still in use on the network.",
                    "NetworkInUse",
                )
            return networks.DeleteNetwork(
                network_id=ident, dhcp_port_ids=[uuid.UUID(p["id"]) for p in attached]
            )
        if spec.collection == "ports":
            fips = [uuid.UUID(f) for f in q.floatingips_of_port(str(ident))]
            return ports.DeletePort(port_id=ident, floatingip_ids=fips)
        if spec.collection == "security-groups":
            return security.DeleteSecurityGroup(
                security_group_id=ident, in_use=q.group_in_use(str(ident))
            )
        if spec.collection == "security-group-rules":
            rule = self._visible(who, spec, str(ident))
            return security.DeleteSecurityGroupRule(
                security_group_id=uuid.UUID(rule["security_group_id"]), rule_id=str(ident)
            )
        commands: dict[str, Callable[[uuid.UUID], Command]] = {
            "subnets": lambda i: networks.DeleteSubnet(subnet_id=i),
            "routers": lambda i: routers.DeleteRouter(router_id=i),
            "floatingips": lambda i: floatingips.DeleteFloatingIp(floatingip_id=i),
        }
        return commands[spec.collection](ident)

    def _router_for(self, floating_network_id: str, port_id: str) -> uuid.UUID | None:
        port = self.deps.queries.get("ports", port_id, None)
        if port is None:
            return None
        subnets = [f["subnet_id"] for f in port.get("fixed_ips", [])]
        router = self.deps.queries.router_for(floating_network_id, subnets)
        return uuid.UUID(router) if router else None
