"""A user's own things: projects, groups, password, application credentials;
and group membership."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.common.errors import ApiError, keystone_error
from api.common.http import Call, endpoint, json_response
from api.identity import render
from api.identity.support import (
    IdentityDeps,
    body_of,
    caller,
    dispatch,
    list_links,
    require,
    require_admin,
    uuid_or_404,
)
from commands.identity.credentials import (
    CreateApplicationCredential,
    DeleteApplicationCredential,
)
from commands.identity.people import (
    AddUserToGroup,
    ChangeOwnPassword,
    RemoveUserFromGroup,
)
from projections.identity.queries import get, select


class UserApi:
    def __init__(self, deps: IdentityDeps) -> None:
        self.deps = deps

    def routes(self) -> list[Route]:
        def wrap(f: Any) -> Any:
            return endpoint(f, keystone_error)

        return [
            Route("/v3/users/{user}/projects", wrap(self.projects), methods=["GET"]),
            Route("/v3/users/{user}/groups", wrap(self.groups), methods=["GET"]),
            Route("/v3/users/{user}/password", wrap(self.password), methods=["POST"]),
            Route("/v3/groups/{group}/users", wrap(self.members), methods=["GET"]),
            Route(
                "/v3/groups/{group}/users/{user}",
                wrap(self.membership),
                methods=["PUT", "HEAD", "GET", "DELETE"],
            ),
            Route(
                "/v3/users/{user}/application_credentials",
                wrap(self.list_credentials),
                methods=["GET"],
            ),
            Route(
                "/v3/users/{user}/application_credentials",
                wrap(self.create_credential),
                methods=["POST"],
            ),
            Route(
                "/v3/users/{user}/application_credentials/{credential}",
                wrap(self.show_credential),
                methods=["GET"],
            ),
            Route(
                "/v3/users/{user}/application_credentials/{credential}",
                wrap(self.delete_credential),
                methods=["DELETE"],
            ),
        ]

    def _user(self, call: Call) -> dict[str, Any]:
        row = get(self.deps.queries.db, "users", call.path["user"])
        if row is None:
            raise ApiError(404, f"Could not find user: {call.path['user']}.")
        return row

    def projects(self, call: Call) -> Response:
        me = caller(self.deps, call)
        user = self._user(call)
        require(me.is_admin or me.user_id == user["id"], "identity:list_user_projects")
        rows = self.deps.queries.projects_of(user["id"])
        return json_response(
            {
                "projects": [render.project(r, self.deps.base_url) for r in rows],
                "links": list_links(call),
            }
        )

    def groups(self, call: Call) -> Response:
        me = caller(self.deps, call)
        user = self._user(call)
        require(me.is_admin or me.user_id == user["id"], "identity:list_groups_for_user")
        ids = self.deps.queries.group_ids_of(user["id"])
        rows = select(self.deps.queries.db, "groups", any_of={"id": ids}) if ids else []
        return json_response(
            {
                "groups": [render.group(r, self.deps.base_url) for r in rows],
                "links": list_links(call),
            }
        )

    def password(self, call: Call) -> Response:
        user = self._user(call)
        body = body_of(call, "user")
        original, new = body.get("original_password"), body.get("password")
        if not isinstance(original, str) or not isinstance(new, str):
            raise ApiError(400, "Both original_password and password are required.")
        try:
            dispatch(
                self.deps,
                call,
                None,
                ChangeOwnPassword(
                    user_id=uuid_or_404(user["id"], "user"),
                    original_password=original,
                    password=new,
                ),
            )
        except Exception as error:
            if type(error).__name__ == "Forbidden":
                raise ApiError(401, "The original password is not correct.") from error
            raise
        return Response(status_code=204)

    def members(self, call: Call) -> Response:
        me = caller(self.deps, call)
        require_admin(me, "identity:list_users_in_group")
        group = get(self.deps.queries.db, "groups", call.path["group"])
        if group is None:
            raise ApiError(404, f"Could not find group: {call.path['group']}.")
        links = select(
            self.deps.queries.db,
            "group_members",
            {"group_id": group["id"]},
            order_by=("user_id",),
        )
        rows = (
            select(
                self.deps.queries.db,
                "users",
                any_of={"id": [m["user_id"] for m in links]},
            )
            if links
            else []
        )
        return json_response(
            {
                "users": [render.user(r, self.deps.base_url) for r in rows],
                "links": list_links(call),
            }
        )

    def membership(self, call: Call) -> Response:
        me = caller(self.deps, call)
        group_id = uuid_or_404(call.path["group"], "group")
        user_id = uuid_or_404(call.path["user"], "user")
        method = call.request.method
        if method in ("GET", "HEAD"):
            require(
                me.is_admin or me.user_id == call.path["user"],
                "identity:check_user_in_group",
            )
            rows = select(
                self.deps.queries.db,
                "group_members",
                {"group_id": call.path["group"], "user_id": call.path["user"]},
                order_by=("user_id",),
            )
            if not rows:
                raise ApiError(404, f"Could not find user in group: {call.path['user']}.")
            return Response(status_code=204)
        require_admin(me, "identity:add_user_to_group")
        command = (AddUserToGroup if method == "PUT" else RemoveUserFromGroup)(
            group_id=group_id, user_id=user_id
        )
        dispatch(self.deps, call, me, command)
        return Response(status_code=204)

    def _credential_owner(self, call: Call) -> tuple[Any, dict[str, Any]]:
        me = caller(self.deps, call)
        user = self._user(call)
        require(me.user_id == user["id"] or me.is_admin, "identity:application_credentials")
        return me, user

    def list_credentials(self, call: Call) -> Response:
        _, user = self._credential_owner(call)
        filters = {"user_id": user["id"]}
        if "name" in call.query:
            filters["name"] = call.query["name"]
        rows = select(self.deps.queries.db, "app_credentials", filters)
        base = self.deps.base_url
        return json_response(
            {
                "application_credentials": [
                    render.app_credential(r, base, self.deps.queries) for r in rows
                ],
                "links": list_links(call),
            }
        )

    def show_credential(self, call: Call) -> Response:
        _, user = self._credential_owner(call)
        row = get(self.deps.queries.db, "app_credentials", call.path["credential"])
        if row is None or row["user_id"] != user["id"]:
            raise ApiError(
                404,
                f"Could not find application credential: {call.path['credential']}.",
            )
        return json_response(
            {
                "application_credential": render.app_credential(
                    row, self.deps.base_url, self.deps.queries
                )
            }
        )

    def create_credential(self, call: Call) -> Response:
        me, user = self._credential_owner(call)
        if me.user_id != user["id"]:
            raise ApiError(403, "Application credentials can only be created for yourself.")
        if me.payload.project_id is None:
            raise ApiError(
                403,
                "A project-scoped token is required to create an application credential.",
            )
        if me.app_credential is not None and not me.app_credential["unrestricted"]:
            raise ApiError(403, "A restricted application credential cannot create another.")
        body = body_of(call, "application_credential")
        held = {r.id: r for r in me.roles}
        by_name = {r.name: r for r in me.roles}
        wanted = body.get("roles") or []
        role_ids = []
        for ref in wanted:
            role = (
                held.get(str(ref.get("id"))) if "id" in ref else by_name.get(str(ref.get("name")))
            )
            if role is None:
                raise ApiError(
                    400,
                    f"Invalid application credential: role {ref} is not held on the project.",
                )
            role_ids.append(role.id)
        if not role_ids:
            role_ids = list(held)
        expires_at = body.get("expires_at")
        command = CreateApplicationCredential(
            user_id=uuid_or_404(user["id"], "user"),
            project_id=uuid_or_404(me.payload.project_id, "project"),
            name=body.get("name") or "",
            description=body.get("description") or "",
            secret=body.get("secret") or None,
            role_ids=[uuid_or_404(r, "role") for r in role_ids],
            creator_role_ids=[uuid_or_404(r, "role") for r in held],
            expires_at=_parse_expiry(expires_at),
            unrestricted=bool(body.get("unrestricted") or False),
            access_rules=body.get("access_rules") or [],
        )
        result = dispatch(self.deps, call, me, command)
        row = get(self.deps.queries.db, "app_credentials", result.outcome["id"].hex)
        assert row is not None
        rendered = render.app_credential(row, self.deps.base_url, self.deps.queries)
        if "secret" in result.outcome:
            rendered["secret"] = result.outcome["secret"]
        return json_response({"application_credential": rendered}, 201)

    def delete_credential(self, call: Call) -> Response:
        me, user = self._credential_owner(call)
        dispatch(
            self.deps,
            call,
            me,
            DeleteApplicationCredential(
                user_id=uuid_or_404(user["id"], "user"),
                credential_id=uuid_or_404(call.path["credential"], "application credential"),
            ),
        )
        return Response(status_code=204)


def _parse_expiry(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as error:
        raise ApiError(400, f"Invalid expires_at: {value}.") from error
    if parsed.tzinfo is None:
        from datetime import UTC

        parsed = parsed.replace(tzinfo=UTC)
    return parsed
