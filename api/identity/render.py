"""Read-model rows as Keystone spells its entities and tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.identity.authn import ValidToken
from projections.identity.queries import IdentityQueries, select


def keystone_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _links(base: str, plural: str, ident: str) -> dict[str, str]:
    return {"self": f"{base}/v3/{plural}/{ident}"}


def domain(row: dict[str, Any], base: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "enabled": row["enabled"],
        "tags": row["tags"],
        "options": {},
        "links": _links(base, "domains", row["id"]),
    }


def project(row: dict[str, Any], base: str) -> dict[str, Any]:
    body = {
        "id": row["id"],
        "name": row["name"],
        "domain_id": row["domain_id"],
        "description": row["description"],
        "enabled": row["enabled"],
        "parent_id": row["parent_id"],
        "is_domain": False,
        "tags": row["tags"],
        "options": {},
        "links": _links(base, "projects", row["id"]),
    }
    for key, value in row["extra"].items():
        body.setdefault(key, value)
    return body


def user(row: dict[str, Any], base: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "domain_id": row["domain_id"],
        "enabled": row["enabled"],
        "password_expires_at": None,
        "options": {},
        "links": _links(base, "users", row["id"]),
    }
    for key in ("default_project_id", "description", "email"):
        if row.get(key):
            body[key] = row[key]
    return body


def group(row: dict[str, Any], base: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "domain_id": row["domain_id"],
        "description": row["description"],
        "links": _links(base, "groups", row["id"]),
    }


def role(row: dict[str, Any], base: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "domain_id": row["domain_id"],
        "description": row["description"],
        "options": {},
        "links": _links(base, "roles", row["id"]),
    }


def region(row: dict[str, Any], base: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "description": row["description"],
        "parent_region_id": row["parent_region_id"],
        "links": _links(base, "regions", row["id"]),
    }


def service(row: dict[str, Any], base: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "type": row["type"],
        "name": row["name"],
        "description": row["description"],
        "enabled": row["enabled"],
        "links": _links(base, "services", row["id"]),
    }


def endpoint(row: dict[str, Any], base: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "interface": row["interface"],
        "region_id": row["region_id"],
        "region": row["region_id"],
        "service_id": row["service_id"],
        "url": row["url"],
        "enabled": row["enabled"],
        "links": _links(base, "endpoints", row["id"]),
    }


def app_credential(row: dict[str, Any], base: str, queries: IdentityQueries) -> dict[str, Any]:
    roles_rows = select(queries.db, "roles", any_of={"id": row["role_ids"]})
    expires = row["expires_at"]
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "user_id": row["user_id"],
        "project_id": row["project_id"],
        "roles": [
            {"id": r["id"], "name": r["name"], "domain_id": r["domain_id"]} for r in roles_rows
        ],
        "expires_at": expires.removesuffix("Z") if expires else None,
        "unrestricted": row["unrestricted"],
        "access_rules": row["access_rules"],
        "links": {"self": f"{base}/v3/users/{row['user_id']}/application_credentials/{row['id']}"},
    }


def _named(row: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"]} if row else {}


def catalog_for(catalog: list[dict[str, Any]], project_id: str | None) -> list[dict[str, Any]]:
    """Fill `%(project_id)s` in endpoint URLs; drop such endpoints without a project."""
    out = []
    for svc in catalog:
        endpoints = []
        for ep in svc["endpoints"]:
            url = ep["url"]
            templated = "%(project_id)s" in url or "%(tenant_id)s" in url
            if templated:
                if project_id is None:
                    continue
                url = url.replace("%(project_id)s", project_id).replace("%(tenant_id)s", project_id)
            endpoints.append({**ep, "url": url})
        out.append({**svc, "endpoints": endpoints})
    return out


def token_body(valid: ValidToken, catalog: list[dict[str, Any]] | None) -> dict[str, Any]:
    p = valid.payload
    body: dict[str, Any] = {
        "methods": p.methods,
        "user": {
            **_named(valid.user),
            "domain": _named(valid.user_domain),
            "password_expires_at": None,
        },
        "audit_ids": p.audit_ids,
        "expires_at": keystone_time(p.expires_at),
        "issued_at": keystone_time(p.issued_at),
    }
    scoped = False
    if valid.project is not None:
        body["project"] = {
            **_named(valid.project),
            "domain": _named(valid.project_domain),
        }
        body["is_domain"] = False
        scoped = True
    elif valid.domain is not None:
        body["domain"] = _named(valid.domain)
        scoped = True
    elif p.system:
        body["system"] = {"all": True}
        scoped = True
    if scoped:
        body["roles"] = [{"id": r.id, "name": r.name} for r in valid.roles]
        if catalog is not None:
            body["catalog"] = catalog_for(catalog, p.project_id)
    if valid.app_credential is not None:
        cred = valid.app_credential
        body["application_credential"] = {
            "id": cred["id"],
            "name": cred["name"],
            "restricted": not cred["unrestricted"],
        }
        if cred["access_rules"]:
            body["application_credential"]["access_rules"] = cred["access_rules"]
    return {"token": body}
