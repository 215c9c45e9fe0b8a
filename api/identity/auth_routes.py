"""Version discovery, tokens, and the /v3/auth views of the caller."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.common.errors import ApiError, keystone_error
from api.common.http import Call, endpoint, json_response
from api.identity import render
from api.identity.authn import unauthorized
from api.identity.support import IdentityDeps, caller, dispatch, flag, list_links
from commands.identity.credentials import RevokeToken

VERSION_ID = "v3.14"


def version_document(base: str) -> dict[str, Any]:
    return {
        "id": VERSION_ID,
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base}/v3/"}],
        "media-types": [
            {
                "base": "application/json",
                "type": "application/vnd.openstack.identity-v3+json",
            }
        ],
    }


class AuthApi:
    def __init__(self, deps: IdentityDeps) -> None:
        self.deps = deps

    def routes(self) -> list[Route]:
        def wrap(f: Any) -> Any:
            return endpoint(f, keystone_error)

        return [
            Route("/", wrap(self.versions), methods=["GET", "HEAD"]),
            Route("/v3", wrap(self.version), methods=["GET", "HEAD"]),
            Route("/v3/", wrap(self.version), methods=["GET", "HEAD"]),
            Route("/v3/auth/tokens", wrap(self.issue), methods=["POST"]),
            Route("/v3/auth/tokens", wrap(self.check), methods=["GET", "HEAD"]),
            Route("/v3/auth/tokens", wrap(self.revoke), methods=["DELETE"]),
            Route("/v3/auth/catalog", wrap(self.catalog), methods=["GET"]),
            Route("/v3/auth/projects", wrap(self.projects), methods=["GET"]),
            Route("/v3/auth/domains", wrap(self.domains), methods=["GET"]),
            Route("/v3/auth/system", wrap(self.system), methods=["GET"]),
        ]

    def versions(self, call: Call) -> Response:
        return json_response(
            {"versions": {"values": [version_document(self.deps.base_url)]}},
            300,
            {"Location": f"{self.deps.base_url}/v3/"},
        )

    def version(self, call: Call) -> Response:
        return json_response({"version": version_document(self.deps.base_url)})

    def issue(self, call: Call) -> Response:
        if not isinstance(call.body, dict) or not isinstance(call.body.get("auth"), dict):
            raise ApiError(400, "Expecting to find auth in request body.")
        auth = dict(call.body["auth"])
        identity = auth.get("identity")
        if isinstance(identity, dict) and "token" in (identity.get("methods") or []):
            token_ref = identity.get("token")
            if isinstance(token_ref, dict) and "id" not in token_ref:
                token_ref["id"] = call.header("X-Auth-Token") or ""
        token, valid = self.deps.authenticator.authenticate(auth)
        catalog = None if flag(call, "nocatalog") else self.deps.queries.catalog()
        return json_response(render.token_body(valid, catalog), 201, {"X-Subject-Token": token})

    def check(self, call: Call) -> Response:
        caller(self.deps, call)
        subject = call.header("X-Subject-Token") or ""
        try:
            valid = self.deps.authenticator.validate(subject)
        except ApiError as error:
            raise ApiError(404, f"Could not find token: {subject[:16]}...") from error
        if call.request.method == "HEAD":
            return Response(status_code=200, headers={"X-Subject-Token": subject})
        catalog = None if flag(call, "nocatalog") else self.deps.queries.catalog()
        return json_response(render.token_body(valid, catalog), 200, {"X-Subject-Token": subject})

    def revoke(self, call: Call) -> Response:
        me = caller(self.deps, call)
        subject = call.header("X-Subject-Token") or ""
        try:
            target = self.deps.authenticator.validate(subject)
        except ApiError as error:
            raise ApiError(404, f"Could not find token: {subject[:16]}...") from error
        if not me.is_admin and target.user_id != me.user_id:
            raise ApiError(403, "You may only revoke your own tokens.")
        dispatch(self.deps, call, me, RevokeToken(audit_id=target.payload.audit_id))
        return Response(status_code=204)

    def catalog(self, call: Call) -> Response:
        me = caller(self.deps, call)
        if me.payload.project_id is None:
            raise ApiError(403, "A project-scoped token is required to produce a service catalog.")
        body = render.catalog_for(self.deps.queries.catalog(), me.payload.project_id)
        return json_response(
            {
                "catalog": body,
                "links": {"self": f"{self.deps.base_url}/v3/auth/catalog"},
            }
        )

    def projects(self, call: Call) -> Response:
        me = caller(self.deps, call)
        rows = [r for r in self.deps.queries.projects_of(me.user_id) if r["enabled"]]
        return json_response(
            {
                "projects": [render.project(r, self.deps.base_url) for r in rows],
                "links": list_links(call),
            }
        )

    def domains(self, call: Call) -> Response:
        me = caller(self.deps, call)
        rows = self.deps.queries.domains_of(me.user_id)
        return json_response(
            {
                "domains": [render.domain(r, self.deps.base_url) for r in rows],
                "links": list_links(call),
            }
        )

    def system(self, call: Call) -> Response:
        me = caller(self.deps, call)
        has = bool(self.deps.queries.system_roles(me.user_id))
        return json_response(
            {
                "system": [{"all": True}] if has else [],
                "links": {"self": f"{self.deps.base_url}/v3/auth/system"},
            }
        )


__all__ = ["AuthApi", "unauthorized"]
