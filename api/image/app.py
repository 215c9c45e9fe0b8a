"""The image service (Glance v2) as one Starlette application."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.common.http import Call, RequestIdMiddleware, endpoint
from api.identity.authn import Authenticator
from api.image.data import DataApi
from api.image.errors import glance_error
from api.image.images import ImageApi
from api.image.members import MemberApi
from api.image.meta import MetaApi
from api.image.support import ImageDeps
from commands.bus import CommandBus
from commands.context import SYSTEM_CONTEXT
from commands.image.uploads import FailUpload
from infra.database import Database
from infra.image_store import ImageStore
from projections.image.queries import ImageQueries


def create_image_app(deps: ImageDeps) -> Starlette:
    def wrap(func: Callable[[Call], Response]) -> Any:
        return endpoint(func, glance_error)

    routes = (
        MetaApi(deps.base_url, wrap).routes()
        + DataApi(deps).routes()
        + MemberApi(deps, wrap).routes()
        + ImageApi(deps, wrap).routes()
    )

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse(glance_error(404, "The resource could not be found."), 404)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return JSONResponse(glance_error(405, "The method is not allowed."), 405)

    return Starlette(
        routes=routes,
        middleware=[Middleware(RequestIdMiddleware)],
        exception_handlers={404: not_found, 405: not_allowed},
    )


def image_app(
    bus: CommandBus, db: Database, authenticator: Authenticator, images_dir: Path, base_url: str
) -> Starlette:
    """The app wired from the cloud's parts (what runtime/registry.py calls)."""
    queries = ImageQueries(db)
    store = ImageStore(images_dir)
    store.sweep(queries.ids())
    recover_uploads(bus, queries, store)
    return create_image_app(ImageDeps(bus, queries, authenticator, store, base_url))


def recover_uploads(bus: CommandBus, queries: ImageQueries, store: ImageStore) -> list[str]:
    """Images a dead process left `saving` go back to `queued`, so their owner
    can upload again; an upload still writing its file somewhere is left alone."""
    arriving = store.uploading()
    recovered = []
    for image_id in queries.with_status("saving"):
        if image_id not in arriving:
            reason = "upload interrupted: the process receiving it stopped"
            bus.dispatch(FailUpload(image_id=uuid.UUID(image_id), reason=reason), SYSTEM_CONTEXT)
            recovered.append(image_id)
    return recovered
