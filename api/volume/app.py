"""The block storage service (Cinder v3) as one Starlette application."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.common.http import Call, RequestIdMiddleware, json_response
from api.common.microversion import MicroversionMiddleware, version_text
from api.identity.authn import Authenticator
from api.volume.actions import VolumeActionApi
from api.volume.attachments import AttachmentApi
from api.volume.limits import LimitsApi
from api.volume.microversion import MAX_VERSION, MIN_VERSION, RULES
from api.volume.snapshots import SnapshotApi
from api.volume.support import VolumeDeps, cinder_error, wrap
from api.volume.types import TypeApi
from api.volume.volumes import VolumeApi
from commands.bus import CommandBus
from infra.database import Database
from projections.volume.queries import VolumeQueries


def version_doc(base: str) -> dict[str, Any]:
    return {
        "id": "v3.0",
        "status": "CURRENT",
        "version": version_text(MAX_VERSION),
        "min_version": version_text(MIN_VERSION),
        "updated": "2023-07-25T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base}/v3/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}
        ],
    }


def create_volume_app(deps: VolumeDeps) -> Starlette:
    volumes = VolumeApi(deps)

    def root(call: Call) -> Response:
        # Cinder answers its root with 300 Multiple Choices, like Glance.
        return json_response({"versions": [version_doc(deps.base_url)]}, 300)

    def v3(call: Call) -> Response:
        return json_response({"versions": [version_doc(deps.base_url)]})

    routes = [
        Route("/", wrap(root), methods=["GET"]),
        Route("/v3", wrap(v3), methods=["GET"]),
        Route("/v3/", wrap(v3), methods=["GET"]),
        *volumes.routes(),
        *VolumeActionApi(deps, volumes).routes(),
        *SnapshotApi(deps).routes(),
        *TypeApi(deps).routes(),
        *AttachmentApi(deps).routes(),
        *LimitsApi(deps).routes(),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse(cinder_error(404, "The resource could not be found."), 404)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return JSONResponse(cinder_error(405, "The method is not allowed."), 405)

    return Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(MicroversionMiddleware, rules=RULES),
        ],
        exception_handlers={404: not_found, 405: not_allowed},
    )


def volume_app(
    bus: CommandBus, db: Database, authenticator: Authenticator, base_url: str
) -> Starlette:
    """The app wired from the cloud's parts (what runtime/registry.py calls)."""
    return create_volume_app(VolumeDeps(bus, VolumeQueries(db), authenticator, base_url))
