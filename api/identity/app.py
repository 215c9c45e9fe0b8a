"""The identity service (Keystone v3) as one Starlette application."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.common.errors import keystone_error
from api.common.http import RequestIdMiddleware
from api.identity.auth_routes import AuthApi
from api.identity.collections import collection_routes
from api.identity.grant_routes import GrantApi
from api.identity.support import IdentityDeps
from api.identity.user_routes import UserApi


def create_identity_app(deps: IdentityDeps) -> Starlette:
    routes = (
        AuthApi(deps).routes()
        + UserApi(deps).routes()
        + GrantApi(deps).routes()
        + collection_routes(deps)
    )

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse(keystone_error(404, "The resource could not be found."), 404)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return JSONResponse(keystone_error(405, "The method is not allowed."), 405)

    return Starlette(
        routes=routes,
        middleware=[Middleware(RequestIdMiddleware)],
        exception_handlers={404: not_found, 405: not_allowed},
    )
