"""Identity read models: every Keystone resource as rows, ids as the API spells them."""

from __future__ import annotations

from typing import Any

from domain.identity.assignments import RoleAssignment
from domain.identity.catalog import Endpoint, Region, Service
from domain.identity.credentials import ApplicationCredential
from domain.identity.domains import Domain
from domain.identity.groups import Group
from domain.identity.ids import api_id
from domain.identity.projects import Project
from domain.identity.revocations import Revocation
from domain.identity.roles import Role
from domain.identity.users import User
from infra.database import Cursor
from projections.base import Projection, Table, handles

T, B = "TEXT", "BOOLEAN"

TABLES = (
    Table(
        "domains",
        (
            ("id", T),
            ("name", T),
            ("description", T),
            ("enabled", B),
            ("tags", T),
            ("created_at", T),
            ("updated_at", T),
        ),
        ("id",),
        (("name",),),
    ),
    Table(
        "projects",
        (
            ("id", T),
            ("domain_id", T),
            ("name", T),
            ("description", T),
            ("enabled", B),
            ("parent_id", T),
            ("tags", T),
            ("extra", T),
            ("created_at", T),
            ("updated_at", T),
        ),
        ("id",),
        (("domain_id", "name"), ("name",), ("parent_id",)),
    ),
    Table(
        "users",
        (
            ("id", T),
            ("domain_id", T),
            ("name", T),
            ("enabled", B),
            ("description", T),
            ("email", T),
            ("default_project_id", T),
            ("password_hash", T),
            ("extra", T),
            ("password_changed_at", T),
            ("created_at", T),
            ("updated_at", T),
        ),
        ("id",),
        (("domain_id", "name"), ("name",)),
    ),
    Table(
        "groups",
        (
            ("id", T),
            ("domain_id", T),
            ("name", T),
            ("description", T),
            ("created_at", T),
            ("updated_at", T),
        ),
        ("id",),
        (("domain_id", "name"),),
    ),
    Table(
        "group_members",
        (("group_id", T), ("user_id", T)),
        ("group_id", "user_id"),
        (("user_id",),),
    ),
    Table(
        "roles",
        (
            ("id", T),
            ("name", T),
            ("domain_id", T),
            ("description", T),
            ("created_at", T),
            ("updated_at", T),
        ),
        ("id",),
        (("name",),),
    ),
    Table(
        "role_implications",
        (("prior_id", T), ("implied_id", T)),
        ("prior_id", "implied_id"),
    ),
    Table(
        "assignments",
        (
            ("id", T),
            ("actor_type", T),
            ("actor_id", T),
            ("target_type", T),
            ("target_id", T),
            ("role_id", T),
            ("inherited", B),
            ("granted", B),
        ),
        ("id",),
        (("actor_id",), ("target_id",), ("role_id",)),
    ),
    Table(
        "regions",
        (("id", T), ("aggregate_id", T), ("description", T), ("parent_region_id", T)),
        ("id",),
        (("aggregate_id",),),
    ),
    Table(
        "services",
        (("id", T), ("type", T), ("name", T), ("description", T), ("enabled", B)),
        ("id",),
        (("type",),),
    ),
    Table(
        "endpoints",
        (
            ("id", T),
            ("service_id", T),
            ("interface", T),
            ("url", T),
            ("region_id", T),
            ("enabled", B),
        ),
        ("id",),
        (("service_id",),),
    ),
    Table(
        "app_credentials",
        (
            ("id", T),
            ("user_id", T),
            ("project_id", T),
            ("name", T),
            ("description", T),
            ("secret_hash", T),
            ("role_ids", T),
            ("expires_at", T),
            ("unrestricted", B),
            ("access_rules", T),
            ("created_at", T),
        ),
        ("id",),
        (("user_id", "name"),),
    ),
    Table(
        "revocations",
        (
            ("id", T),
            ("audit_id", T),
            ("user_id", T),
            ("project_id", T),
            ("domain_id", T),
            ("app_credential_id", T),
            ("issued_before", T),
        ),
        ("id",),
        (("audit_id",), ("user_id",)),
    ),
)


def _opt(value: Any) -> Any:
    return api_id(value) if value is not None and hasattr(value, "hex") else value


def _columns(changes: dict[str, Any]) -> dict[str, Any]:
    """Updated events carry attribute values; ids become API ids."""
    return {k: _opt(v) for k, v in changes.items()}


class IdentityProjection(Projection):
    name = "identity"
    tables = TABLES

    # -- domains ---------------------------------------------------------
    @handles(Domain.Created)
    def _domain_created(self, cur: Cursor, e: Domain.Created) -> None:
        self.upsert(
            cur,
            "domains",
            {
                "id": api_id(e.originator_id),
                "name": e.name,
                "description": e.description,
                "enabled": e.enabled,
                "tags": e.tags,
                "created_at": e.timestamp,
                "updated_at": e.timestamp,
            },
        )

    @handles(Domain.Updated)
    def _domain_updated(self, cur: Cursor, e: Domain.Updated) -> None:
        self._updated(cur, "domains", e)

    @handles(Domain.Deleted)
    def _domain_deleted(self, cur: Cursor, e: Domain.Deleted) -> None:
        self.delete(cur, "domains", {"id": api_id(e.originator_id)})

    # -- projects --------------------------------------------------------
    @handles(Project.Created)
    def _project_created(self, cur: Cursor, e: Project.Created) -> None:
        domain_id = api_id(e.domain_id)
        self.upsert(
            cur,
            "projects",
            {
                "id": api_id(e.originator_id),
                "domain_id": domain_id,
                "name": e.name,
                "description": e.description,
                "enabled": e.enabled,
                "parent_id": _opt(e.parent_id) or domain_id,
                "tags": e.tags,
                "extra": e.extra,
                "created_at": e.timestamp,
                "updated_at": e.timestamp,
            },
        )

    @handles(Project.Updated)
    def _project_updated(self, cur: Cursor, e: Project.Updated) -> None:
        self._updated(cur, "projects", e)

    @handles(Project.Deleted)
    def _project_deleted(self, cur: Cursor, e: Project.Deleted) -> None:
        pid = api_id(e.originator_id)
        self.delete(cur, "projects", {"id": pid})
        self.delete(cur, "assignments", {"target_id": pid})

    # -- users -----------------------------------------------------------
    @handles(User.Created)
    def _user_created(self, cur: Cursor, e: User.Created) -> None:
        self.upsert(
            cur,
            "users",
            {
                "id": api_id(e.originator_id),
                "domain_id": api_id(e.domain_id),
                "name": e.name,
                "enabled": e.enabled,
                "description": e.description,
                "email": e.email,
                "default_project_id": _opt(e.default_project_id),
                "password_hash": e.password_hash,
                "extra": e.extra,
                "password_changed_at": e.timestamp if e.password_hash else None,
                "created_at": e.timestamp,
                "updated_at": e.timestamp,
            },
        )

    @handles(User.Updated)
    def _user_updated(self, cur: Cursor, e: User.Updated) -> None:
        self._updated(cur, "users", e)

    @handles(User.PasswordChanged)
    def _user_password(self, cur: Cursor, e: User.PasswordChanged) -> None:
        self.update(
            cur,
            "users",
            {
                "password_hash": e.password_hash,
                "password_changed_at": e.timestamp,
                "updated_at": e.timestamp,
            },
            {"id": api_id(e.originator_id)},
        )

    @handles(User.Deleted)
    def _user_deleted(self, cur: Cursor, e: User.Deleted) -> None:
        uid = api_id(e.originator_id)
        self.delete(cur, "users", {"id": uid})
        self.delete(cur, "group_members", {"user_id": uid})
        self.delete(cur, "assignments", {"actor_id": uid})
        self.delete(cur, "app_credentials", {"user_id": uid})

    # -- groups ----------------------------------------------------------
    @handles(Group.Created)
    def _group_created(self, cur: Cursor, e: Group.Created) -> None:
        self.upsert(
            cur,
            "groups",
            {
                "id": api_id(e.originator_id),
                "domain_id": api_id(e.domain_id),
                "name": e.name,
                "description": e.description,
                "created_at": e.timestamp,
                "updated_at": e.timestamp,
            },
        )

    @handles(Group.Updated)
    def _group_updated(self, cur: Cursor, e: Group.Updated) -> None:
        self._updated(cur, "groups", e)

    @handles(Group.MemberAdded)
    def _member_added(self, cur: Cursor, e: Group.MemberAdded) -> None:
        self.upsert(
            cur,
            "group_members",
            {"group_id": api_id(e.originator_id), "user_id": api_id(e.user_id)},
        )

    @handles(Group.MemberRemoved)
    def _member_removed(self, cur: Cursor, e: Group.MemberRemoved) -> None:
        self.delete(
            cur,
            "group_members",
            {"group_id": api_id(e.originator_id), "user_id": api_id(e.user_id)},
        )

    @handles(Group.Deleted)
    def _group_deleted(self, cur: Cursor, e: Group.Deleted) -> None:
        gid = api_id(e.originator_id)
        self.delete(cur, "groups", {"id": gid})
        self.delete(cur, "group_members", {"group_id": gid})
        self.delete(cur, "assignments", {"actor_id": gid})

    # -- roles -----------------------------------------------------------
    @handles(Role.Created)
    def _role_created(self, cur: Cursor, e: Role.Created) -> None:
        self.upsert(
            cur,
            "roles",
            {
                "id": api_id(e.originator_id),
                "name": e.name,
                "domain_id": _opt(e.domain_id),
                "description": e.description,
                "created_at": e.timestamp,
                "updated_at": e.timestamp,
            },
        )

    @handles(Role.Updated)
    def _role_updated(self, cur: Cursor, e: Role.Updated) -> None:
        self._updated(cur, "roles", e)

    @handles(Role.ImplicationAdded)
    def _implication_added(self, cur: Cursor, e: Role.ImplicationAdded) -> None:
        self.upsert(
            cur,
            "role_implications",
            {
                "prior_id": api_id(e.originator_id),
                "implied_id": api_id(e.implied_role_id),
            },
        )

    @handles(Role.ImplicationRemoved)
    def _implication_removed(self, cur: Cursor, e: Role.ImplicationRemoved) -> None:
        self.delete(
            cur,
            "role_implications",
            {
                "prior_id": api_id(e.originator_id),
                "implied_id": api_id(e.implied_role_id),
            },
        )

    @handles(Role.Deleted)
    def _role_deleted(self, cur: Cursor, e: Role.Deleted) -> None:
        rid = api_id(e.originator_id)
        self.delete(cur, "roles", {"id": rid})
        self.delete(cur, "assignments", {"role_id": rid})
        self.delete(cur, "role_implications", {"prior_id": rid})
        self.delete(cur, "role_implications", {"implied_id": rid})

    # -- assignments -----------------------------------------------------
    @handles(RoleAssignment.Created)
    def _assignment_created(self, cur: Cursor, e: RoleAssignment.Created) -> None:
        self.upsert(
            cur,
            "assignments",
            {
                "id": api_id(e.originator_id),
                "actor_type": e.actor_type,
                "actor_id": api_id(e.actor_id),
                "target_type": e.target_type,
                "target_id": api_id(e.target_id),
                "role_id": api_id(e.role_id),
                "inherited": e.inherited,
                "granted": True,
            },
        )

    @handles(RoleAssignment.Granted)
    def _assignment_granted(self, cur: Cursor, e: RoleAssignment.Granted) -> None:
        self.update(cur, "assignments", {"granted": True}, {"id": api_id(e.originator_id)})

    @handles(RoleAssignment.Revoked)
    def _assignment_revoked(self, cur: Cursor, e: RoleAssignment.Revoked) -> None:
        self.update(cur, "assignments", {"granted": False}, {"id": api_id(e.originator_id)})

    # -- catalog ---------------------------------------------------------
    @handles(Region.Created)
    def _region_created(self, cur: Cursor, e: Region.Created) -> None:
        self.upsert(
            cur,
            "regions",
            {
                "id": e.region_id,
                "aggregate_id": e.originator_id.hex,
                "description": e.description,
                "parent_region_id": e.parent_region_id,
            },
        )

    @handles(Region.Updated)
    def _region_updated(self, cur: Cursor, e: Region.Updated) -> None:
        self.update(cur, "regions", _columns(e.changes), {"aggregate_id": e.originator_id.hex})

    @handles(Region.Deleted)
    def _region_deleted(self, cur: Cursor, e: Region.Deleted) -> None:
        self.delete(cur, "regions", {"aggregate_id": e.originator_id.hex})

    @handles(Service.Created)
    def _service_created(self, cur: Cursor, e: Service.Created) -> None:
        self.upsert(
            cur,
            "services",
            {
                "id": api_id(e.originator_id),
                "type": e.type,
                "name": e.name,
                "description": e.description,
                "enabled": e.enabled,
            },
        )

    @handles(Service.Updated)
    def _service_updated(self, cur: Cursor, e: Service.Updated) -> None:
        self.update(cur, "services", _columns(e.changes), {"id": api_id(e.originator_id)})

    @handles(Service.Deleted)
    def _service_deleted(self, cur: Cursor, e: Service.Deleted) -> None:
        sid = api_id(e.originator_id)
        self.delete(cur, "services", {"id": sid})
        self.delete(cur, "endpoints", {"service_id": sid})

    @handles(Endpoint.Created)
    def _endpoint_created(self, cur: Cursor, e: Endpoint.Created) -> None:
        self.upsert(
            cur,
            "endpoints",
            {
                "id": api_id(e.originator_id),
                "service_id": api_id(e.service_id),
                "interface": e.interface,
                "url": e.url,
                "region_id": e.region_id,
                "enabled": e.enabled,
            },
        )

    @handles(Endpoint.Updated)
    def _endpoint_updated(self, cur: Cursor, e: Endpoint.Updated) -> None:
        self.update(cur, "endpoints", _columns(e.changes), {"id": api_id(e.originator_id)})

    @handles(Endpoint.Deleted)
    def _endpoint_deleted(self, cur: Cursor, e: Endpoint.Deleted) -> None:
        self.delete(cur, "endpoints", {"id": api_id(e.originator_id)})

    # -- application credentials and revocations -------------------------
    @handles(ApplicationCredential.Created)
    def _app_cred_created(self, cur: Cursor, e: ApplicationCredential.Created) -> None:
        self.upsert(
            cur,
            "app_credentials",
            {
                "id": api_id(e.originator_id),
                "user_id": api_id(e.user_id),
                "project_id": api_id(e.project_id),
                "name": e.name,
                "description": e.description,
                "secret_hash": e.secret_hash,
                "role_ids": [api_id(r) for r in e.role_ids],
                "expires_at": e.expires_at,
                "unrestricted": e.unrestricted,
                "access_rules": e.access_rules,
                "created_at": e.timestamp,
            },
        )

    @handles(ApplicationCredential.Deleted)
    def _app_cred_deleted(self, cur: Cursor, e: ApplicationCredential.Deleted) -> None:
        self.delete(cur, "app_credentials", {"id": api_id(e.originator_id)})

    @handles(Revocation.Created)
    def _revoked(self, cur: Cursor, e: Revocation.Created) -> None:
        self.upsert(
            cur,
            "revocations",
            {
                "id": api_id(e.originator_id),
                "audit_id": e.audit_id,
                "user_id": _opt(e.user_id),
                "project_id": _opt(e.project_id),
                "domain_id": _opt(e.domain_id),
                "app_credential_id": _opt(e.application_credential_id),
                "issued_before": e.timestamp,
            },
        )

    # -- helpers ---------------------------------------------------------
    def _updated(self, cur: Cursor, logical: str, e: Any) -> None:
        changes = _columns(e.changes)
        changes["updated_at"] = e.timestamp
        self.update(cur, logical, changes, {"id": api_id(e.originator_id)})
