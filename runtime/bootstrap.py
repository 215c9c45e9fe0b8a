"""`strata bootstrap`: the admin, the default domain, roles and the catalog.

Idempotent: each step looks at the read models first and only issues the
commands for what is missing, so running it on every start changes nothing
the second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from commands.context import SYSTEM_CONTEXT
from commands.identity.catalog import CreateEndpoint, CreateRegion, CreateService
from commands.identity.people import CreateUser
from commands.identity.roles import AddImpliedRole, CreateRole, GrantRole
from commands.identity.tenancy import CreateDomain, CreateProject
from domain.identity.ids import DEFAULT_DOMAIN_ID, parse_id
from projections.identity.queries import select
from runtime.cloud import Cloud

SERVICES = [
    # type, name, path appended to the service's URL
    ("identity", "keystone", "/v3"),
    ("compute", "nova", "/v2.1"),
    ("network", "neutron", ""),
    ("block-storage", "cinder", "/v3/%(project_id)s"),
    ("image", "glance", ""),
]


@dataclass
class BootstrapResult:
    admin_user_id: str
    admin_project_id: str
    created_admin: bool


def _id(text: str) -> UUID:
    value = parse_id(text)
    assert value is not None
    return value


def bootstrap(
    cloud: Cloud,
    admin_password: str,
    admin_name: str = "admin",
    project_name: str = "admin",
) -> BootstrapResult:
    db, bus, ctx = cloud.db, cloud.bus, SYSTEM_CONTEXT
    settings = cloud.settings
    bus.dispatch(CreateDomain(name="Default", default=True), ctx)
    role_ids: dict[str, UUID] = {}
    for name in ("reader", "member", "admin"):
        rows = select(db, "roles", {"name": name, "domain_id": None})
        if rows:
            role_ids[name] = _id(rows[0]["id"])
        else:
            role_ids[name] = bus.dispatch(CreateRole(name=name), ctx).outcome["id"]
    for prior, implied in (("admin", "member"), ("member", "reader")):
        if not select(
            db,
            "role_implications",
            {"prior_id": role_ids[prior].hex, "implied_id": role_ids[implied].hex},
        ):
            bus.dispatch(
                AddImpliedRole(prior_role_id=role_ids[prior], implied_role_id=role_ids[implied]),
                ctx,
            )
    projects = select(db, "projects", {"name": project_name, "domain_id": "default"})
    project_id = (
        _id(projects[0]["id"])
        if projects
        else bus.dispatch(
            CreateProject(
                domain_id=DEFAULT_DOMAIN_ID,
                name=project_name,
                description="Bootstrap project for initializing the cloud.",
            ),
            ctx,
        ).outcome["id"]
    )
    users = select(db, "users", {"name": admin_name, "domain_id": "default"})
    created = not users
    user_id = (
        _id(users[0]["id"])
        if users
        else bus.dispatch(
            CreateUser(
                domain_id=DEFAULT_DOMAIN_ID,
                name=admin_name,
                password=admin_password,
                default_project_id=project_id,
            ),
            ctx,
        ).outcome["id"]
    )
    admin = role_ids["admin"]
    for grant in (
        GrantRole(
            actor_type="user",
            actor_id=user_id,
            target_type="project",
            target_id=project_id,
            role_id=admin,
        ),
        GrantRole(actor_type="user", actor_id=user_id, target_type="system", role_id=admin),
    ):
        bus.dispatch(grant, ctx)
    if not select(db, "regions", {"id": settings.region}, order_by=("id",)):
        bus.dispatch(CreateRegion(region_id=settings.region), ctx)
    for service_type, name, path in SERVICES:
        existing = select(db, "services", {"type": service_type}, order_by=("id",))
        service_id = (
            _id(existing[0]["id"])
            if existing
            else bus.dispatch(CreateService(type=service_type, name=name), ctx).outcome["id"]
        )
        have = {
            e["interface"]
            for e in select(db, "endpoints", {"service_id": service_id.hex}, order_by=("id",))
        }
        for interface in ("public", "internal", "admin"):
            if interface not in have:
                bus.dispatch(
                    CreateEndpoint(
                        service_id=service_id,
                        interface=interface,
                        url=settings.public_url(service_type) + path,
                        region_id=settings.region,
                    ),
                    ctx,
                )
    return BootstrapResult(user_id.hex, project_id.hex, created)
