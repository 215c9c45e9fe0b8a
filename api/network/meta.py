"""Discovery (versions, extensions) and the quota API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.common.http import Call, json_response
from api.network.errors import NeutronApiError, guarded
from api.network.specs import SPECS
from api.network.support import NetworkDeps, body_of, caller, dispatch
from commands.network.admin import ResetQuotas, SetQuotas
from domain.network.errors import Denied
from domain.network.quotas import DEFAULT_QUOTAS

Wrap = Callable[[Callable[[Call], Response]], Any]
UPDATED = "2026-11-21T00:00:00-00:00"

# Only what Strata really implements; clients probe these before using a feature.
EXTENSIONS = {
    "external-net": (
        "Neutron external network",
        "Adds external network attribute to network resource.",
    ),
    "router": (
        "Neutron L3 Router",
        "Router abstraction for basic L3 forwarding between L2 networks and to external networks.",
    ),
    "extraroute": ("Neutron Extra Route", "Extra routes configuration for L3 router"),
    "extraroute-atomic": (
        "Atomically add/remove extra routes",
        "Edit extra routes of a router on server side by atomically adding/removing extra routes",
    ),
    "ext-gw-mode": (
        "Neutron L3 Configurable external gateway mode",
        "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway.",
    ),
    "security-group": ("security-group", "The security groups extension."),
    "stateful-security-group": (
        "Stateful security group",
        "Indicates if the security group is stateful or not.",
    ),
    "quotas": ("Quota management support", "Expose functions for quotas management per project."),
    "quota_details": (
        "Quota details management support",
        "Expose functions for quotas usage statistics per project.",
    ),
    "binding": ("Port Binding", "Expose port bindings of a virtual port to external application."),
    "port-security": ("Port Security", "Provides port security."),
    "allowed-address-pairs": ("Allowed Address Pairs", "Provides allowed address pairs."),
    "provider": ("Provider Network", "Expose mapping of virtual networks to physical networks."),
    "net-mtu": ("Network MTU", "Provides MTU attribute for a network resource."),
    "project-id": (
        "project_id field enabled",
        "Extension that indicates that project_id field is enabled.",
    ),
    "standard-attr-revisions": (
        "Resource revision numbers",
        "This extension will display the revision number of neutron resources.",
    ),
    "standard-attr-timestamp": (
        "Resource timestamps",
        "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.",
    ),
    "standard-attr-description": (
        "standard-attr-description",
        "Extension to add descriptions to standard attributes.",
    ),
    "standard-attr-tag": (
        "Tag support for resources with standard attribute: subnet, trunk, network_segment_range, router, network, policy, subnetpool, port, security_group, floatingip",
        "Enables to set tag on resources with standard attribute.",
    ),
    "revision-if-match": (
        "If-Match constraints based on revision_number",
        "Extension indicating that If-Match based on revision_number is supported.",
    ),
    "pagination": ("Pagination support", "Extension that indicates that pagination is enabled."),
    "sorting": ("Sorting support", "Extension that indicates that sorting is enabled."),
}


def _extension(alias: str) -> dict[str, Any]:
    name, description = EXTENSIONS[alias]
    return {
        "alias": alias,
        "name": name,
        "description": description,
        "updated": UPDATED,
        "links": [],
    }


class MetaApi:
    def __init__(self, deps: NetworkDeps, wrap: Wrap) -> None:
        self.deps = deps
        self.wrap = wrap

    def routes(self) -> list[Route]:
        w = self.wrap
        return [
            Route("/", w(guarded(self.versions)), methods=["GET"]),
            Route("/v2.0", w(guarded(self.resources)), methods=["GET"]),
            Route("/v2.0/", w(guarded(self.resources)), methods=["GET"]),
            Route("/v2.0/extensions", w(guarded(self.extensions)), methods=["GET"]),
            Route("/v2.0/extensions/{alias}", w(guarded(self.extension)), methods=["GET"]),
            Route("/v2.0/quotas", w(guarded(self.quota_list)), methods=["GET"]),
            Route("/v2.0/quotas/{project}", w(guarded(self.quota_show)), methods=["GET"]),
            Route("/v2.0/quotas/{project}", w(guarded(self.quota_update)), methods=["PUT"]),
            Route("/v2.0/quotas/{project}", w(guarded(self.quota_reset)), methods=["DELETE"]),
            Route(
                "/v2.0/quotas/{project}/default", w(guarded(self.quota_default)), methods=["GET"]
            ),
            Route(
                "/v2.0/quotas/{project}/details", w(guarded(self.quota_details)), methods=["GET"]
            ),
        ]

    def versions(self, call: Call) -> Response:
        link = {"href": f"{self.deps.base_url}/v2.0/", "rel": "self"}
        return json_response({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [link]}]})

    def resources(self, call: Call) -> Response:
        caller(self.deps, call)
        return json_response(
            {
                "resources": [
                    {
                        "name": spec.singular,
                        "collection": spec.plural_key,
                        "links": [{"href": f"{self.deps.base_url}/v2.0/{name}", "rel": "self"}],
                    }
                    for name, spec in SPECS.items()
                ]
            }
        )

    def extensions(self, call: Call) -> Response:
        caller(self.deps, call)
        return json_response({"extensions": [_extension(a) for a in sorted(EXTENSIONS)]})

    def extension(self, call: Call) -> Response:
        caller(self.deps, call)
        alias = call.path["alias"]
        if alias not in EXTENSIONS:
            raise NeutronApiError(
                404, f"Extension with alias {alias} does not exist", "HTTPNotFound"
            )
        return json_response({"extension": _extension(alias)})

    # -- quotas -------------------------------------------------------------
    def _project(self, call: Call, admin_only: bool = False) -> tuple[Any, str]:
        who = caller(self.deps, call)
        project = call.path["project"]
        if not who.is_admin and (admin_only or project != who.project_id):
            raise Denied("rule:update_quota" if admin_only else "rule:get_quota")
        return who, project

    def quota_list(self, call: Call) -> Response:
        who = caller(self.deps, call)
        if not who.is_admin:
            raise Denied("rule:get_quota")
        rows = [
            {**DEFAULT_QUOTAS, **limits, "project_id": project, "tenant_id": project}
            for project, limits in self.deps.queries.quota_overrides().items()
        ]
        return json_response({"quotas": rows})

    def quota_show(self, call: Call) -> Response:
        _, project = self._project(call)
        return json_response({"quota": self.deps.queries.quotas(project)})

    def quota_default(self, call: Call) -> Response:
        self._project(call)
        return json_response({"quota": dict(DEFAULT_QUOTAS)})

    def quota_details(self, call: Call) -> Response:
        _, project = self._project(call)
        limits = self.deps.queries.quotas(project)
        counted = {
            "network": "networks",
            "subnet": "subnets",
            "port": "ports",
            "router": "routers",
            "floatingip": "floatingips",
            "security_group": "security-groups",
            "security_group_rule": "security-group-rules",
        }
        details = {
            name: {
                "limit": limit,
                "used": self.deps.queries.count(counted[name], project) if name in counted else 0,
                "reserved": 0,
            }
            for name, limit in limits.items()
        }
        return json_response({"quota": details})

    def quota_update(self, call: Call) -> Response:
        who, project = self._project(call, admin_only=True)
        limits = body_of(call, "quota")
        outcome = dispatch(self.deps, who, SetQuotas(project_id=project, limits=limits))
        return json_response({"quota": outcome["quota"]})

    def quota_reset(self, call: Call) -> Response:
        who, project = self._project(call, admin_only=True)
        dispatch(self.deps, who, ResetQuotas(project_id=project))
        return Response(status_code=204)
