"""The metadata API as one Starlette application (Nova's, port 8775).

Every request but the version list at `/` must carry an identity a proxy
signed (identity.py); the instance is resolved from the read models on each
request, so a renamed server or a new key shows at once.
"""

from __future__ import annotations

import posixpath

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.common.http import RequestIdMiddleware
from api.metadata import ec2, openstack
from api.metadata.identity import Refused, identify
from api.metadata.instance import Instance, resolve
from api.metadata.tree import PathNotFound, find, render
from infra.database import Database

REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}
NOT_FOUND = "The resource could not be found."


def error(status: int, message: str) -> Response:
    """Nova's metadata errors are webob's plain pages: status line, then why."""
    body = f"{status} {REASONS.get(status, '')}\n\n{message}\n\n"
    return Response(body, status, media_type="text/plain")


def lookup(inst: Instance, tokens: list[str]) -> tuple[bytes, str]:
    """(content, content type) at `tokens` below the root."""
    if tokens[0] == "openstack":
        if len(tokens) == 1:
            return render([*openstack.VERSIONS, "latest"]), openstack.TEXT
        data, media_type = openstack.item(inst, tokens[1:])
        return render(data), media_type
    if tokens[0] == "ec2":  # Nova serves the EC2 tree under /ec2 too
        tokens = tokens[1:] or ["latest"]
    return render(find(ec2.tree(inst, tokens[0]), tokens[1:])), openstack.TEXT


def create_metadata_app(db: Database, secret: str, dhcp_domain: str) -> Starlette:
    def answer(headers: Headers, path: str) -> Response:
        tokens = posixpath.normpath("/" + path.lstrip("/")).split("/")[1:]
        try:
            who = identify(headers, secret)
        except Refused as refused:
            return error(refused.status, str(refused))
        inst = resolve(db, who, dhcp_domain)
        if inst is None:
            return error(404, NOT_FOUND)
        try:
            content, media_type = lookup(inst, tokens)
        except PathNotFound:
            return error(404, NOT_FOUND)
        return Response(content, 200, media_type=media_type)

    async def serve(request: Request) -> Response:
        path = request.url.path
        if posixpath.normpath("/" + path.lstrip("/")) == "/":
            # The version list, like Nova, before (and without) any identity.
            return Response(render([*ec2.VERSIONS, "latest"]), 200, media_type="text/plain")
        return await run_in_threadpool(answer, request.headers, path)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return error(405, "The method is not allowed for this resource.")

    return Starlette(
        routes=[Route("/{path:path}", serve, methods=["GET"])],
        middleware=[Middleware(RequestIdMiddleware)],
        exception_handlers={405: not_allowed},
    )
