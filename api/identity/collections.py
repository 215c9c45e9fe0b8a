"""The plain CRUD resources of Keystone, described once and served generically.

Each collection says how to render a row, which filters it takes, who may read
it, and which command creates, updates or deletes one. Writes are admin-only;
what a non-admin may read is the collection's `can_read`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.common.errors import ApiError, keystone_error
from api.common.http import Call, SyncEndpoint, endpoint, json_response
from api.identity import render
from api.identity.authn import ValidToken
from api.identity.support import (
    IdentityDeps,
    Renderer,
    body_of,
    bool_filter,
    caller,
    dispatch,
    list_links,
    page,
    require,
    require_admin,
    uuid_or_404,
)
from commands.bus import Command
from commands.identity import catalog, people, roles, tenancy
from projections.identity.queries import IdentityQueries, get, select

Body = dict[str, Any]
# Keys clients send that Strata accepts and does not store.
IGNORED_KEYS = {"options", "links", "id"}


@dataclass
class Collection:
    plural: str
    singular: str
    render: Renderer
    filters: tuple[str, ...]
    create: Callable[[Body, ValidToken], Command]
    update: Callable[[str, Body], Command]
    delete: Callable[[str], Command]
    can_read: Callable[[IdentityQueries, ValidToken, dict[str, Any]], bool] = lambda q, t, r: (
        t.is_admin
    )
    can_list: Callable[[ValidToken], bool] = lambda t: t.is_admin
    string_ids: bool = False
    default_filters: Callable[[Call], dict[str, Any]] = field(default=lambda call: {})

    @property
    def table(self) -> str:
        return "regions" if self.plural == "regions" else self.plural


def _clean(body: Body, *nullable: str) -> Body:
    cleaned = {k: v for k, v in body.items() if k not in IGNORED_KEYS}
    for key in nullable:
        if cleaned.get(key, "") is None:
            cleaned.pop(key)
    return cleaned


def _split_extra(body: Body, known: set[str]) -> Body:
    extra = {k: v for k, v in body.items() if k not in known}
    out = {k: v for k, v in body.items() if k in known}
    if extra:
        out["extra"] = extra
    return out


def _domain_of(token: ValidToken, body: Body) -> uuid.UUID:
    domain_id = body.get("domain_id")
    if domain_id is None:
        domain_id = (token.project or {}).get("domain_id") or token.user["domain_id"]
    return uuid_or_404(str(domain_id), "domain")


def _project_create(body: Body, token: ValidToken) -> Command:
    body = _clean(body, "description", "parent_id", "tags")
    if body.pop("is_domain", False):
        raise ApiError(400, "Projects acting as domains are not supported.")
    body["domain_id"] = _domain_of(token, body)
    if body.get("parent_id") is not None:
        body["parent_id"] = uuid_or_404(str(body["parent_id"]), "project")
    return tenancy.CreateProject(**_split_extra(body, set(tenancy.CreateProject.model_fields)))


def _user_create(body: Body, token: ValidToken) -> Command:
    body = _clean(body, "description", "email", "default_project_id", "password")
    body["domain_id"] = _domain_of(token, body)
    if body.get("default_project_id"):
        body["default_project_id"] = uuid_or_404(str(body["default_project_id"]), "project")
    return people.CreateUser(**_split_extra(body, set(people.CreateUser.model_fields)))


def _with_id(key: str, kind: str) -> Callable[[str, Body], Body]:
    def build(ident: str, body: Body) -> Body:
        body = _clean(body, "description")
        return {**body, key: uuid_or_404(ident, kind)}

    return build


def _update(command: type[Command], key: str, kind: str) -> Callable[[str, Body], Command]:
    builder = _with_id(key, kind)
    return lambda ident, body: command(**builder(ident, body))


def _delete(command: type[Command], key: str, kind: str) -> Callable[[str], Command]:
    return lambda ident: command(**{key: uuid_or_404(ident, kind)})


def _own_project(queries: IdentityQueries, token: ValidToken, row: dict[str, Any]) -> bool:
    return (
        token.is_admin
        or token.payload.project_id == row["id"]
        or any(p["id"] == row["id"] for p in queries.projects_of(token.user_id))
    )


def _self(queries: IdentityQueries, token: ValidToken, row: dict[str, Any]) -> bool:
    return token.is_admin or token.user_id == row["id"]


def _region_create(body: Body, token: ValidToken) -> Command:
    body = _clean(body, "description", "parent_region_id")
    return catalog.CreateRegion(
        region_id=str(body.pop("region_id", None) or uuid.uuid4().hex), **body
    )


def _global_roles_unless_domain(call: Call) -> dict[str, Any]:
    return {} if "domain_id" in call.query else {"domain_id": None}


COLLECTIONS = [
    Collection(
        "domains",
        "domain",
        render.domain,
        ("name", "enabled"),
        create=lambda b, t: tenancy.CreateDomain(**_clean(b, "description", "tags")),
        update=_update(tenancy.UpdateDomain, "domain_id", "domain"),
        delete=_delete(tenancy.DeleteDomain, "domain_id", "domain"),
        can_read=lambda q, t, r: (
            t.is_admin or r["id"] in (t.user["domain_id"], (t.project or {}).get("domain_id"))
        ),
    ),
    Collection(
        "projects",
        "project",
        render.project,
        ("name", "domain_id", "parent_id", "enabled"),
        create=_project_create,
        update=_update(tenancy.UpdateProject, "project_id", "project"),
        delete=_delete(tenancy.DeleteProject, "project_id", "project"),
        can_read=_own_project,
    ),
    Collection(
        "users",
        "user",
        render.user,
        ("name", "domain_id", "enabled"),
        create=_user_create,
        update=_update(people.UpdateUser, "user_id", "user"),
        delete=_delete(people.DeleteUser, "user_id", "user"),
        can_read=_self,
    ),
    Collection(
        "groups",
        "group",
        render.group,
        ("name", "domain_id"),
        create=lambda b, t: people.CreateGroup(
            **{**_clean(b, "description"), "domain_id": _domain_of(t, b)}
        ),
        update=_update(people.UpdateGroup, "group_id", "group"),
        delete=_delete(people.DeleteGroup, "group_id", "group"),
    ),
    Collection(
        "roles",
        "role",
        render.role,
        ("name", "domain_id"),
        create=lambda b, t: roles.CreateRole(
            **{
                **_clean(b, "description", "domain_id"),
                **(
                    {"domain_id": uuid_or_404(str(b["domain_id"]), "domain")}
                    if b.get("domain_id")
                    else {}
                ),
            }
        ),
        update=_update(roles.UpdateRole, "role_id", "role"),
        delete=_delete(roles.DeleteRole, "role_id", "role"),
        can_read=lambda q, t, r: True,
        can_list=lambda t: True,
        default_filters=_global_roles_unless_domain,
    ),
    Collection(
        "regions",
        "region",
        render.region,
        ("parent_region_id",),
        create=_region_create,
        update=lambda ident, b: catalog.UpdateRegion(region_id=ident, **_clean(b, "description")),
        delete=lambda ident: catalog.DeleteRegion(region_id=ident),
        can_read=lambda q, t, r: True,
        can_list=lambda t: True,
        string_ids=True,
    ),
    Collection(
        "services",
        "service",
        render.service,
        ("type", "name"),
        create=lambda b, t: catalog.CreateService(**_clean(b, "description", "name")),
        update=_update(catalog.UpdateService, "service_id", "service"),
        delete=_delete(catalog.DeleteService, "service_id", "service"),
        can_read=lambda q, t, r: True,
        can_list=lambda t: True,
    ),
    Collection(
        "endpoints",
        "endpoint",
        render.endpoint,
        ("interface", "region_id", "service_id"),
        create=lambda b, t: catalog.CreateEndpoint(
            **{
                **{k: v for k, v in _clean(b, "region_id", "region").items() if k != "region"},
                **(
                    {"region_id": b.get("region_id") or b.get("region")}
                    if (b.get("region_id") or b.get("region"))
                    else {}
                ),
            }
        ),
        update=_update(catalog.UpdateEndpoint, "endpoint_id", "endpoint"),
        delete=_delete(catalog.DeleteEndpoint, "endpoint_id", "endpoint"),
        can_read=lambda q, t, r: True,
        can_list=lambda t: True,
    ),
]


class CollectionApi:
    def __init__(self, deps: IdentityDeps, spec: Collection) -> None:
        self.deps = deps
        self.spec = spec

    def routes(self) -> list[Route]:
        plural = self.spec.plural

        def wrap(f: SyncEndpoint) -> Any:
            return endpoint(f, keystone_error)

        routes = [
            Route(f"/v3/{plural}", wrap(self.index), methods=["GET", "HEAD"]),
            Route(f"/v3/{plural}", wrap(self.create), methods=["POST"]),
            Route(f"/v3/{plural}/{{ident}}", wrap(self.show), methods=["GET", "HEAD"]),
            Route(f"/v3/{plural}/{{ident}}", wrap(self.update), methods=["PATCH"]),
            Route(f"/v3/{plural}/{{ident}}", wrap(self.delete), methods=["DELETE"]),
        ]
        if self.spec.string_ids:
            routes.append(Route(f"/v3/{plural}/{{ident}}", wrap(self.create_at), methods=["PUT"]))
        return routes

    def _row(self, ident: str) -> dict[str, Any]:
        row = get(self.deps.queries.db, self.spec.table, ident)
        if row is None:
            raise ApiError(404, f"Could not find {self.spec.singular}: {ident}.")
        return row

    def _one(self, row: dict[str, Any], status: int = 200) -> Response:
        return json_response(
            {self.spec.singular: self.spec.render(row, self.deps.base_url)}, status
        )

    def index(self, call: Call) -> Response:
        token = caller(self.deps, call)
        require(self.spec.can_list(token), f"identity:list_{self.spec.plural}")
        filters: dict[str, Any] = dict(self.spec.default_filters(call))
        for key, value in call.query.items():
            column = key.partition("__")[0]
            if column in self.spec.filters:
                filters[key] = bool_filter(value) if column == "enabled" else value
        if call.query.get("is_domain", "").lower() == "true":
            rows: list[dict[str, Any]] = []
        else:
            order = ("name", "id") if "name" in dict(self._columns()) else ("id",)
            rows = select(self.deps.queries.db, self.spec.table, filters, order_by=order)
        rows = page(call, rows)
        return json_response(
            {
                self.spec.plural: [self.spec.render(r, self.deps.base_url) for r in rows],
                "links": list_links(call),
            }
        )

    def _columns(self) -> list[tuple[str, str]]:
        from projections.identity.projection import TABLES

        return next(list(t.columns) for t in TABLES if t.name == self.spec.table)

    def show(self, call: Call) -> Response:
        token = caller(self.deps, call)
        row = self._row(call.path["ident"])
        require(
            self.spec.can_read(self.deps.queries, token, row),
            f"identity:get_{self.spec.singular}",
        )
        return self._one(row)

    def create(self, call: Call) -> Response:
        token = caller(self.deps, call)
        require_admin(token, f"identity:create_{self.spec.singular}")
        command = self.spec.create(body_of(call, self.spec.singular), token)
        result = dispatch(self.deps, call, token, command)
        return self._one(self._row(_ident(result.outcome["id"])), 201)

    def create_at(self, call: Call) -> Response:
        body = body_of(call, self.spec.singular)
        body["region_id"] = call.path["ident"]
        token = caller(self.deps, call)
        require_admin(token, f"identity:create_{self.spec.singular}")
        result = dispatch(self.deps, call, token, self.spec.create(body, token))
        return self._one(self._row(_ident(result.outcome["id"])), 201)

    def update(self, call: Call) -> Response:
        token = caller(self.deps, call)
        require_admin(token, f"identity:update_{self.spec.singular}")
        self._row(call.path["ident"])
        command = self.spec.update(call.path["ident"], body_of(call, self.spec.singular))
        dispatch(self.deps, call, token, command)
        return self._one(self._row(call.path["ident"]))

    def delete(self, call: Call) -> Response:
        token = caller(self.deps, call)
        require_admin(token, f"identity:delete_{self.spec.singular}")
        self._row(call.path["ident"])
        dispatch(self.deps, call, token, self.spec.delete(call.path["ident"]))
        return Response(status_code=204)


def _ident(value: Any) -> str:
    from domain.identity.ids import api_id

    return api_id(value) if isinstance(value, uuid.UUID) else str(value)


def collection_routes(deps: IdentityDeps) -> list[Route]:
    return [route for spec in COLLECTIONS for route in CollectionApi(deps, spec).routes()]
