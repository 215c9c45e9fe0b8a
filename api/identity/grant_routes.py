"""Role grants, role assignments and implied roles."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.common.errors import ApiError, keystone_error
from api.common.http import Call, endpoint, json_response
from api.identity import render
from api.identity.support import (
    IdentityDeps,
    caller,
    dispatch,
    flag,
    list_links,
    require,
    require_admin,
    uuid_or_404,
)
from commands.identity.roles import (
    AddImpliedRole,
    GrantRole,
    RemoveImpliedRole,
    RevokeRole,
)
from domain.identity.assignments import SYSTEM_TARGET_ID, assignment_id
from domain.identity.ids import api_id
from projections.identity.queries import get, select

GRANT_PATHS = [
    ("project", "user", "/v3/projects/{target}/users/{actor}/roles/{role}", False),
    ("project", "group", "/v3/projects/{target}/groups/{actor}/roles/{role}", False),
    ("domain", "user", "/v3/domains/{target}/users/{actor}/roles/{role}", False),
    ("domain", "group", "/v3/domains/{target}/groups/{actor}/roles/{role}", False),
    ("system", "user", "/v3/system/users/{actor}/roles/{role}", False),
    ("system", "group", "/v3/system/groups/{actor}/roles/{role}", False),
    (
        "domain",
        "user",
        "/v3/OS-INHERIT/domains/{target}/users/{actor}/roles/{role}/inherited_to_projects",
        True,
    ),
    (
        "domain",
        "group",
        "/v3/OS-INHERIT/domains/{target}/groups/{actor}/roles/{role}/inherited_to_projects",
        True,
    ),
    (
        "project",
        "user",
        "/v3/OS-INHERIT/projects/{target}/users/{actor}/roles/{role}/inherited_to_projects",
        True,
    ),
]


class GrantApi:
    def __init__(self, deps: IdentityDeps) -> None:
        self.deps = deps

    def routes(self) -> list[Route]:
        def wrap(f: Any) -> Any:
            return endpoint(f, keystone_error)

        routes = []
        for target_type, actor_type, path, inherited in GRANT_PATHS:
            routes.append(
                Route(
                    path,
                    wrap(self._grant(target_type, actor_type, inherited)),
                    methods=["PUT", "HEAD", "GET", "DELETE"],
                )
            )
            listing = path.rsplit("/{role}", 1)[0]
            if not inherited:
                routes.append(
                    Route(
                        listing,
                        wrap(self._list_grants(target_type, actor_type)),
                        methods=["GET"],
                    )
                )
        routes += [
            Route("/v3/role_assignments", wrap(self.assignments), methods=["GET"]),
            Route("/v3/roles/{prior}/implies", wrap(self.list_implied), methods=["GET"]),
            Route(
                "/v3/roles/{prior}/implies/{implied}",
                wrap(self.implied),
                methods=["PUT", "GET", "HEAD", "DELETE"],
            ),
            Route("/v3/role_inferences", wrap(self.inferences), methods=["GET"]),
        ]
        return routes

    def _command(self, call: Call, target_type: str, actor_type: str, inherited: bool) -> GrantRole:
        tables = {"project": "projects", "domain": "domains"}
        target_id = SYSTEM_TARGET_ID
        if target_type != "system":
            target = call.path["target"]
            if get(self.deps.queries.db, tables[target_type], target) is None:
                raise ApiError(404, f"Could not find {target_type}: {target}.")
            target_id = uuid_or_404(target, target_type)
        actor = call.path["actor"]
        if get(self.deps.queries.db, actor_type + "s", actor) is None:
            raise ApiError(404, f"Could not find {actor_type}: {actor}.")
        role = call.path["role"]
        if get(self.deps.queries.db, "roles", role) is None:
            raise ApiError(404, f"Could not find role: {role}.")
        return GrantRole.model_validate(
            {
                "actor_type": actor_type,
                "actor_id": uuid_or_404(actor, actor_type),
                "target_type": target_type,
                "target_id": target_id,
                "role_id": uuid_or_404(role, "role"),
                "inherited": inherited,
            }
        )

    def _grant(self, target_type: str, actor_type: str, inherited: bool) -> Any:
        def handle(call: Call) -> Response:
            me = caller(self.deps, call)
            command = self._command(call, target_type, actor_type, inherited)
            method = call.request.method
            if method in ("GET", "HEAD"):
                require(
                    me.is_admin or (actor_type == "user" and call.path["actor"] == me.user_id),
                    "identity:check_grant",
                )
                key = assignment_id(*_key(command))
                row = get(self.deps.queries.db, "assignments", api_id(key))
                if row is None or not row["granted"]:
                    raise ApiError(
                        404,
                        "Could not find role assignment with role: "
                        f"{call.path['role']}, user or group: "
                        f"{call.path['actor']}.",
                    )
                return Response(status_code=204)
            require_admin(
                me,
                "identity:create_grant" if method == "PUT" else "identity:revoke_grant",
            )
            if method == "PUT":
                dispatch(self.deps, call, me, command)
            else:
                dispatch(self.deps, call, me, RevokeRole(**command.model_dump()))
            return Response(status_code=204)

        return handle

    def _list_grants(self, target_type: str, actor_type: str) -> Any:
        def handle(call: Call) -> Response:
            me = caller(self.deps, call)
            require(me.is_admin or call.path["actor"] == me.user_id, "identity:list_grants")
            target = call.path.get("target", api_id(SYSTEM_TARGET_ID))
            rows = select(
                self.deps.queries.db,
                "assignments",
                {
                    "actor_id": call.path["actor"],
                    "target_id": target,
                    "granted": True,
                    "inherited": False,
                },
                order_by=("role_id",),
            )
            roles = select(
                self.deps.queries.db,
                "roles",
                any_of={"id": [r["role_id"] for r in rows]},
            )
            return json_response(
                {
                    "roles": [render.role(r, self.deps.base_url) for r in roles],
                    "links": list_links(call),
                }
            )

        return handle

    def assignments(self, call: Call) -> Response:
        me = caller(self.deps, call)
        q = call.query
        user_id, group_id = q.get("user.id"), q.get("group.id")
        require(me.is_admin or (user_id == me.user_id), "identity:list_role_assignments")
        if user_id and group_id:
            raise ApiError(400, "Specify either a user or a group, not both.")
        if q.get("scope.project.id") and q.get("scope.domain.id"):
            raise ApiError(400, "Specify either a domain or a project scope, not both.")
        effective = flag(call, "effective")
        if effective and group_id:
            raise ApiError(400, "Combining effective and group filter is not supported.")
        rows = self.deps.queries.assignment_rows(
            effective=effective,
            user_id=user_id,
            group_id=group_id,
            role_id=q.get("role.id"),
            project_id=q.get("scope.project.id"),
            domain_id=q.get("scope.domain.id"),
            system="scope.system" in q,
            inherited=q.get("scope.OS-INHERIT:inherited_to") == "projects",
        )
        names = flag(call, "include_names")
        body = [self._render_assignment(r, names) for r in rows]
        return json_response({"role_assignments": body, "links": list_links(call)})

    def _render_assignment(self, row: dict[str, Any], names: bool) -> dict[str, Any]:
        db, base = self.deps.queries.db, self.deps.base_url
        actor_kind = row["actor_type"]
        entry: dict[str, Any] = {
            "role": self._named("roles", row["role_id"], names),
            actor_kind: self._named(actor_kind + "s", row["actor_id"], names),
        }
        if row["target_type"] == "system":
            entry["scope"] = {"system": {"all": True}}
            link = f"{base}/v3/system/{actor_kind}s/{row['actor_id']}/roles/{row['role_id']}"
        else:
            plural = row["target_type"] + "s"
            entry["scope"] = {row["target_type"]: self._named(plural, row["target_id"], names)}
            link = (
                f"{base}/v3/{plural}/{row['target_id']}/{actor_kind}s/{row['actor_id']}"
                f"/roles/{row['role_id']}"
            )
            if row["inherited"]:
                entry["scope"]["OS-INHERIT:inherited_to"] = "projects"
                link = (
                    f"{base}/v3/OS-INHERIT"
                    + link.removeprefix(f"{base}/v3")
                    + "/inherited_to_projects"
                )
        entry["links"] = {"assignment": link}
        if row.get("via_group"):
            entry["links"]["membership"] = (
                f"{base}/v3/groups/{row['via_group']}/users/{row['actor_id']}"
            )
        del db
        return entry

    def _named(self, table: str, ident: str, names: bool) -> dict[str, Any]:
        if not names:
            return {"id": ident}
        row = get(self.deps.queries.db, table, ident) or {"name": ident}
        out: dict[str, Any] = {"id": ident, "name": row.get("name", ident)}
        domain_id = row.get("domain_id")
        if domain_id and table != "domains":
            domain = get(self.deps.queries.db, "domains", domain_id)
            out["domain"] = {
                "id": domain_id,
                "name": domain["name"] if domain else domain_id,
            }
        return out

    def list_implied(self, call: Call) -> Response:
        caller(self.deps, call)
        prior = get(self.deps.queries.db, "roles", call.path["prior"])
        if prior is None:
            raise ApiError(404, f"Could not find role: {call.path['prior']}.")
        rows = select(
            self.deps.queries.db,
            "role_implications",
            {"prior_id": prior["id"]},
            order_by=("implied_id",),
        )
        implied = (
            select(
                self.deps.queries.db,
                "roles",
                any_of={"id": [r["implied_id"] for r in rows]},
            )
            if rows
            else []
        )
        base = self.deps.base_url
        return json_response(
            {
                "role_inference": {
                    "prior_role": _role_ref(prior, base),
                    "implies": [_role_ref(r, base) for r in implied],
                }
            }
        )

    def implied(self, call: Call) -> Response:
        me = caller(self.deps, call)
        prior_id = uuid_or_404(call.path["prior"], "role")
        implied_id = uuid_or_404(call.path["implied"], "role")
        method = call.request.method
        db = self.deps.queries.db
        if method in ("GET", "HEAD"):
            rows = select(
                db,
                "role_implications",
                {"prior_id": call.path["prior"], "implied_id": call.path["implied"]},
                order_by=("prior_id",),
            )
            if not rows:
                raise ApiError(404, f"Could not find implied role: {call.path['implied']}.")
            if method == "HEAD":
                return Response(status_code=204)
            prior, implied = (get(db, "roles", call.path[k]) for k in ("prior", "implied"))
            base = self.deps.base_url
            return json_response(
                {
                    "role_inference": {
                        "prior_role": _role_ref(prior or {}, base),
                        "implies": _role_ref(implied or {}, base),
                    }
                }
            )
        require_admin(me, "identity:create_implied_role")
        if method == "PUT":
            dispatch(
                self.deps,
                call,
                me,
                AddImpliedRole(prior_role_id=prior_id, implied_role_id=implied_id),
            )
            prior, implied = (get(db, "roles", call.path[k]) for k in ("prior", "implied"))
            base = self.deps.base_url
            return json_response(
                {
                    "role_inference": {
                        "prior_role": _role_ref(prior or {}, base),
                        "implies": _role_ref(implied or {}, base),
                    }
                },
                201,
            )
        dispatch(
            self.deps,
            call,
            me,
            RemoveImpliedRole(prior_role_id=prior_id, implied_role_id=implied_id),
        )
        return Response(status_code=204)

    def inferences(self, call: Call) -> Response:
        caller(self.deps, call)
        db, base = self.deps.queries.db, self.deps.base_url
        rules = select(db, "role_implications", order_by=("prior_id", "implied_id"))
        grouped: dict[str, list[dict[str, Any]]] = {}
        for rule in rules:
            grouped.setdefault(rule["prior_id"], []).append(
                _role_ref(get(db, "roles", rule["implied_id"]) or {}, base)
            )
        return json_response(
            {
                "role_inferences": [
                    {
                        "prior_role": _role_ref(get(db, "roles", prior) or {}, base),
                        "implies": implies,
                    }
                    for prior, implies in grouped.items()
                ]
            }
        )


def _role_ref(row: dict[str, Any], base: str) -> dict[str, Any]:
    return {
        "id": row.get("id"),
        "name": row.get("name"),
        "links": {"self": f"{base}/v3/roles/{row.get('id')}"},
    }


def _key(command: GrantRole) -> tuple[Any, ...]:
    return (
        command.actor_type,
        command.actor_id,
        command.target_type,
        command.target_id,
        command.role_id,
        command.inherited,
    )
