"""The compute service (Nova v2.1) as one Starlette application."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.common.http import Call, RequestIdMiddleware, json_response
from api.common.microversion import MicroversionMiddleware, version_text
from api.compute.actions import ActionApi
from api.compute.flavors import FlavorApi
from api.compute.keypairs import KeypairApi
from api.compute.metadata import MetadataApi
from api.compute.microversion import MAX_VERSION, MIN_VERSION, RULES
from api.compute.resources import ResourceApi
from api.compute.servers import ServerApi
from api.compute.support import ComputeDeps, nova_error, wrap
from api.compute.volume_attachments import VolumeAttachmentApi
from api.identity.authn import Authenticator
from commands.bus import CommandBus
from infra.database import Database
from projections.compute.queries import ComputeQueries
from projections.network.queries import NetworkQueries
from projections.volume.queries import VolumeQueries


def version_doc(base: str) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": version_text(MAX_VERSION),
        "min_version": version_text(MIN_VERSION),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": f"{base}/v2.1/"}],
        "media-types": [
            {
                "base": "application/json",
                "type": "application/vnd.openstack.compute+json;version=2.1",
            }
        ],
    }


def create_compute_app(deps: ComputeDeps) -> Starlette:
    servers = ServerApi(deps)

    def root(call: Call) -> Response:
        return json_response({"versions": [version_doc(deps.base_url)]})

    def v21(call: Call) -> Response:
        return json_response({"version": version_doc(deps.base_url)})

    routes = [
        Route("/", wrap(root), methods=["GET"]),
        Route("/v2.1", wrap(v21), methods=["GET"]),
        Route("/v2.1/", wrap(v21), methods=["GET"]),
        *servers.routes(),
        *ActionApi(deps, servers).routes(),
        *MetadataApi(deps, servers).routes(),
        *FlavorApi(deps).routes(),
        *KeypairApi(deps).routes(),
        *ResourceApi(deps).routes(),
        *VolumeAttachmentApi(deps, servers).routes(),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse(nova_error(404, "The resource could not be found."), 404)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return JSONResponse(nova_error(405, "The method is not allowed."), 405)

    return Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(MicroversionMiddleware, rules=RULES),
        ],
        exception_handlers={404: not_found, 405: not_allowed},
    )


def compute_app(
    bus: CommandBus, db: Database, authenticator: Authenticator, base_url: str
) -> Starlette:
    """The app wired from the cloud's parts (what runtime/registry.py calls)."""
    deps = ComputeDeps(
        bus, ComputeQueries(db), NetworkQueries(db), authenticator, base_url, VolumeQueries(db)
    )
    return create_compute_app(deps)
