"""The network service (Neutron v2.0) as one Starlette application."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.common.http import Call, RequestIdMiddleware, endpoint
from api.identity.authn import Authenticator
from api.network.actions import ActionApi
from api.network.collections import CollectionApi
from api.network.errors import neutron_error
from api.network.meta import MetaApi
from api.network.support import NetworkDeps
from commands.bus import CommandBus
from infra.database import Database
from projections.network.queries import NetworkQueries


def create_network_app(deps: NetworkDeps) -> Starlette:
    def wrap(func: Callable[[Call], Response]) -> Any:
        return endpoint(func, neutron_error)

    routes = (
        MetaApi(deps, wrap).routes()
        + ActionApi(deps, wrap).routes()
        + CollectionApi(deps, wrap).routes()
    )

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse(neutron_error(404, "The resource could not be found."), 404)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return JSONResponse(neutron_error(405, "The method is not allowed."), 405)

    return Starlette(
        routes=routes,
        middleware=[Middleware(RequestIdMiddleware)],
        exception_handlers={404: not_found, 405: not_allowed},
    )


def network_app(
    bus: CommandBus, db: Database, authenticator: Authenticator, base_url: str
) -> Starlette:
    """The app wired from the cloud's parts (what runtime/registry.py calls)."""
    return create_network_app(NetworkDeps(bus, NetworkQueries(db), authenticator, base_url))
