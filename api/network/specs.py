"""Each Neutron collection described once: body keys, commands, quota.

Bodies arrive under Neutron's names (`router:external`, `tenant_id`); the
commands use Python names. Attributes Neutron knows but Strata does not vary
are accepted and ignored, unknown ones are a 400, as Neutron answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from api.network.errors import bad_request
from commands.bus import Command
from commands.network import floatingips, networks, ports, routers, security

Body = dict[str, Any]
RENAMES = {
    "router:external": "external",
    "provider:segmentation_id": "segmentation_id",
    "binding:host_id": "binding_host_id",
    "tenant_id": "project_id",
    "external_gateway_info": "gateway",
}
# Known to Neutron, constant in Strata: accepted on writes, never stored.
IGNORED = {
    "provider:network_type",
    "provider:physical_network",
    "availability_zone_hints",
    "binding:vnic_type",
    "binding:profile",
    "qos_policy_id",
    "is_default",
    "dns_domain",
    "dns_name",
    "subnetpool_id",
    "use_default_subnet_pool",
    "service_types",
    "segment_id",
    "extra_dhcp_opts",
    "distributed",
    "ha",
}


@dataclass(frozen=True)
class Spec:
    collection: str  # in URLs: "security-groups"
    singular: str  # in bodies: "security_group"
    kind: str  # in errors: "security group"
    create: type[Command] | None
    update: type[Command] | None
    id_field: str
    quota: str | None = None
    columns: frozenset[str] = frozenset({"id", "project_id", "name"})
    prepare: Callable[[Body], Body] = lambda body: body

    @property
    def plural_key(self) -> str:
        return self.collection.replace("-", "_")


def command_fields(body: Body, model: type[Command], spec: Spec, exclude: set[str]) -> Body:
    """A request body as command fields; unknown attributes are a 400."""
    out: Body = {}
    unknown = []
    if "tenant_id" in body and "project_id" in body and body["tenant_id"] != body["project_id"]:
        raise bad_request("'project_id' and 'tenant_id' do not match.")
    for key, value in body.items():
        if key in IGNORED:
            continue
        name = RENAMES.get(key, key)
        if name not in model.model_fields or name in exclude:
            unknown.append(key)
        else:
            out[name] = value
    if unknown:
        raise bad_request(f"Unrecognized attribute(s) '{', '.join(sorted(unknown))}'")
    return spec.prepare(out)


def _subnet(body: Body) -> Body:
    if body.get("allocation_pools") == []:
        body.pop("allocation_pools")
    return body


def _router(body: Body) -> Body:
    gateway = body.get("gateway")
    if isinstance(gateway, dict) and not gateway:
        body["gateway"] = None
    return body


PORT_COLUMNS = frozenset(
    {"id", "project_id", "name", "network_id", "device_id", "device_owner", "host"}
)

SPECS = {
    spec.collection: spec
    for spec in (
        Spec(
            "networks",
            "network",
            "network",
            networks.CreateNetwork,
            networks.UpdateNetwork,
            "network_id",
            "network",
        ),
        Spec(
            "subnets",
            "subnet",
            "subnet",
            networks.CreateSubnet,
            networks.UpdateSubnet,
            "subnet_id",
            "subnet",
            frozenset({"id", "project_id", "name", "network_id"}),
            _subnet,
        ),
        Spec(
            "ports",
            "port",
            "port",
            ports.CreatePort,
            ports.UpdatePort,
            "port_id",
            "port",
            PORT_COLUMNS,
        ),
        Spec(
            "routers",
            "router",
            "router",
            routers.CreateRouter,
            routers.UpdateRouter,
            "router_id",
            "router",
            prepare=_router,
        ),
        Spec(
            "floatingips",
            "floatingip",
            "floating ip",
            floatingips.CreateFloatingIp,
            floatingips.UpdateFloatingIp,
            "floatingip_id",
            "floatingip",
            frozenset({"id", "project_id", "network_id", "port_id"}),
        ),
        Spec(
            "security-groups",
            "security_group",
            "security group",
            security.CreateSecurityGroup,
            security.UpdateSecurityGroup,
            "security_group_id",
            "security_group",
        ),
        Spec(
            "security-group-rules",
            "security_group_rule",
            "security group rule",
            security.CreateSecurityGroupRule,
            None,
            "rule_id",
            "security_group_rule",
            frozenset({"id", "project_id", "security_group_id"}),
        ),
    )
}
