"""Strata's own service for audit, time travel and event subscriptions ("events", port 8790)."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.common.errors import keystone_error
from api.common.http import RequestIdMiddleware, endpoint
from api.events.audit_routes import AuditApi
from api.events.feed_routes import FeedApi
from api.events.hub import FeedHub
from api.events.support import EventsDeps
from api.events.webhook_routes import WebhookApi


def create_events_app(deps: EventsDeps) -> Starlette:
    def wrap(func: Any) -> Any:
        return endpoint(func, keystone_error)

    hub = FeedHub(deps.store, deps.runner, deps.feed, deps.poll_interval)
    routes = (
        AuditApi(deps).routes(wrap)
        + FeedApi(deps, hub).routes(wrap)
        + WebhookApi(deps).routes(wrap)
    )

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse(keystone_error(404, "The resource could not be found."), 404)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return JSONResponse(keystone_error(405, "The method is not allowed."), 405)

    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestIdMiddleware)],
        exception_handlers={404: not_found, 405: not_allowed},
    )
    app.state.hub = hub
    return app
