"""The pieces every Strata API app shares: request ids, JSON, error bodies.

Endpoints are plain functions `(call) -> Response` that run in a worker thread
(the database drivers block); `endpoint()` adapts them to Starlette, reading
the JSON body first and turning every error into the service's own format.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.common.errors import ApiError, ErrorBody, status_and_message

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-OpenStack-Request-Id"
MAX_BODY_BYTES = 1 << 20


class RequestIdMiddleware:
    """Give each request an id, tell the client, keep it for the events."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req-{uuid.uuid4()}"
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


@dataclass
class Call:
    """One API call as endpoint functions see it."""

    request: Request
    path: dict[str, str]
    query: dict[str, str]
    query_lists: dict[str, list[str]]
    body: Any
    request_id: str
    source: str
    idempotency_key: str | None
    state: dict[str, Any] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)


SyncEndpoint = Callable[[Call], Response]


def endpoint(func: SyncEndpoint, error_body: ErrorBody) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        try:
            raw = await request.body()
            if len(raw) > MAX_BODY_BYTES:
                raise ApiError(413, "The request body is too large.")
            body: Any = None
            if raw:
                try:
                    body = json.loads(raw)
                except (ValueError, UnicodeDecodeError) as error:
                    raise ApiError(400, f"The request body is not valid JSON: {error}") from error
            call = Call(
                request=request,
                path={k: str(v) for k, v in request.path_params.items()},
                query=dict(request.query_params),
                query_lists={k: request.query_params.getlist(k) for k in request.query_params},
                body=body,
                request_id=request.state.request_id,
                source=request.client.host if request.client else "unknown",
                idempotency_key=request.headers.get("Idempotency-Key"),
            )
            return await run_in_threadpool(func, call)
        except ValidationError as error:
            return error_response(error_body, 400, _validation_message(error))
        except Exception as error:  # every failure ends in the service's format
            status, message = status_and_message(error)
            if status >= 500:
                log.exception("unexpected error in %s %s", request.method, request.url.path)
            return error_response(error_body, status, message)

    return run


def error_response(error_body: ErrorBody, status: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Keystone uri="/v3"'} if status == 401 else None
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)


def _validation_message(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "body"
        problems.append(f"{where}: {item['msg']}")
    return "Invalid input: " + "; ".join(problems)


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)
