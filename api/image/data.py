"""Image data: upload streams the request body to the store, download streams
the file back. These endpoints read the body themselves, chunk by chunk,
instead of going through the shared JSON endpoint wrapper, which would hold
the whole body in memory.

An upload first moves the image to `saving` (so a second upload gets 409),
then writes and hashes in a worker thread, a megabyte at a time, and only
after the file is renamed into place records the image `active`. Whatever
breaks on the way — the client going away, a short or long body, a full
disk — removes the temporary file and puts the image back to `queued`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from api.common.errors import ApiError, status_and_message
from api.common.http import Call
from api.image.errors import forbidden, glance_error, unsupported_media
from api.image.support import Caller, ImageDeps, caller, dispatch, image_uuid, visible_row
from commands.image.uploads import FailUpload, FinishUpload, StartUpload
from domain.errors import DomainError
from domain.image.images import ImageNotFound
from infra.image_store import CHUNK, Upload, chunks

log = logging.getLogger(__name__)


class DataApi:
    def __init__(self, deps: ImageDeps) -> None:
        self.deps = deps

    def routes(self) -> list[Route]:
        path = "/v2/images/{image_id}/file"
        return [
            Route(path, _guarded(self.upload), methods=["PUT"]),
            Route(path, _guarded(self.download), methods=["GET"]),
        ]

    async def _who_and_image(self, request: Request) -> tuple[Caller, dict[str, Any]]:
        call = Call(
            request=request,
            path={k: str(v) for k, v in request.path_params.items()},
            query=dict(request.query_params),
            query_lists={},
            body=None,
            request_id=request.state.request_id,
            source=request.client.host if request.client else "unknown",
            idempotency_key=None,
        )

        def look() -> tuple[Caller, dict[str, Any]]:
            who = caller(self.deps, call)
            return who, visible_row(self.deps, who, call.path["image_id"])

        return await run_in_threadpool(look)

    # -- upload ------------------------------------------------------------------
    async def upload(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if content_type != "application/octet-stream":
            raise unsupported_media(content_type)
        who, row = await self._who_and_image(request)
        expected = _expected_sizes(request)
        image_id = image_uuid(row["id"])
        await run_in_threadpool(dispatch, self.deps, who, StartUpload(image_id=image_id))
        upload: Upload | None = None
        try:
            upload = await run_in_threadpool(self.deps.store.begin, row["id"], row["disk_format"])
            await _receive(request, upload)
            for size in expected:
                if upload.size != size:
                    raise ApiError(
                        400,
                        f"Size of uploaded data ({upload.size} bytes) does not match "
                        f"the size given ({size} bytes).",
                    )
            facts = await run_in_threadpool(upload.commit)
        except BaseException as error:
            if upload is not None:
                upload.discard()
            await self._fail(who, image_id, f"upload interrupted: {type(error).__name__}")
            if isinstance(error, ClientDisconnect):
                return Response(status_code=400)  # nobody is listening any more
            raise
        finish = FinishUpload(
            image_id=image_id,
            size=facts.size,
            virtual_size=facts.virtual_size,
            checksum=facts.checksum,
            os_hash_algo=facts.os_hash_algo,
            os_hash_value=facts.os_hash_value,
        )
        try:
            await run_in_threadpool(dispatch, self.deps, who, finish)
        except DomainError as error:
            # Refused, so nothing was recorded: the data has no image to be.
            # (Any other failure may have happened after the commit, so the
            # file stays; if no image claims it, the store's sweep takes it.)
            await run_in_threadpool(self.deps.store.remove, row["id"])
            if isinstance(error, ImageNotFound):
                raise ApiError(
                    410,
                    f"Image {image_id} could not be found after upload. "
                    "The image may have been deleted during the upload.",
                ) from error
            await self._fail(who, image_id, f"could not record the upload: {error.message}")
            raise
        return Response(status_code=204)

    async def _fail(self, who: Caller, image_id: Any, reason: str) -> None:
        # Shielded: even a cancelled request must not leave the image saving.
        with anyio.CancelScope(shield=True):
            try:
                await run_in_threadpool(
                    dispatch, self.deps, who, FailUpload(image_id=image_id, reason=reason)
                )
            except Exception:
                log.exception("could not put image %s back to queued", image_id)

    # -- download ------------------------------------------------------------------
    async def download(self, request: Request) -> Response:
        who, row = await self._who_and_image(request)
        if row["status"] == "deactivated" and not who.ctx.is_admin:
            raise forbidden(
                "The requested image has been deactivated. Image data download is forbidden."
            )
        if row["status"] not in ("active", "deactivated"):
            return Response(status_code=204)
        stream = await run_in_threadpool(self.deps.store.open, row["id"])
        if stream is None:
            raise ApiError(404, f"Image data for {row['id']} not found in the store.")
        size = int(row["size"])
        wanted = _byte_range(request.headers.get("range"), size)
        if wanted is None:
            headers = {"Content-Length": str(size), "Content-MD5": row["checksum"]}
            return StreamingResponse(
                chunks(stream), media_type="application/octet-stream", headers=headers
            )
        start, end = wanted
        await run_in_threadpool(stream.seek, start)
        headers = {
            "Content-Length": str(end - start + 1),
            "Content-Range": f"bytes {start}-{end}/{size}",
        }
        return StreamingResponse(
            chunks(stream, limit=end - start + 1),
            status_code=206,
            media_type="application/octet-stream",
            headers=headers,
        )


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One `bytes=a-b`, `bytes=a-` or `bytes=-n` range, as Glance serves."""
    if header is None:
        return None
    unit, _, spec = header.partition("=")
    first, dash, last = spec.strip().partition("-")
    try:
        if unit.strip() != "bytes" or not dash or "," in spec:
            raise ValueError(header)
        if first:
            start, end = int(first), int(last) if last else size - 1
        else:
            start, end = size - int(last), size - 1
    except ValueError as error:
        raise ApiError(416, "Requested range not satisfiable") from error
    if start < 0 or start > end or start >= size:
        raise ApiError(416, "Requested range not satisfiable")
    return start, min(end, size - 1)


async def _receive(request: Request, upload: Upload) -> None:
    """Write the body in megabyte pieces off the event loop, one piece being
    written while the next arrives (two pieces in memory at most)."""
    buffer = bytearray()
    writing: asyncio.Future[None] | None = None
    try:
        async for piece in request.stream():
            buffer += piece
            if len(buffer) >= CHUNK:
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(run_in_threadpool(upload.write, bytes(buffer)))
                buffer = bytearray()
        if writing is not None:
            await writing
            writing = None
        if buffer:
            await run_in_threadpool(upload.write, bytes(buffer))
    finally:
        if writing is not None and not writing.done():
            # The file must not be closed under a write still running.
            with anyio.CancelScope(shield=True):
                await asyncio.wait([writing])


def _expected_sizes(request: Request) -> list[int]:
    """What the client said it sends (Content-Length, and openstacksdk's
    X-OpenStack-Image-Size); a chunked upload may say nothing."""
    sizes = []
    for header in ("content-length", "x-openstack-image-size"):
        value = request.headers.get(header)
        if value is not None:
            try:
                size = int(value)
            except ValueError as error:
                raise ApiError(400, f"Invalid {header} header: {value}") from error
            if size < 0:
                raise ApiError(400, f"Invalid {header} header: {value}")
            sizes.append(size)
    return sizes


def _guarded(
    func: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        try:
            return await func(request)
        except ValidationError as error:
            return JSONResponse(glance_error(400, f"Invalid input: {error}"), 400)
        except Exception as error:  # every failure ends in Glance's format
            status, message = status_and_message(error)
            if status >= 500:
                log.exception("unexpected error in %s %s", request.method, request.url.path)
            headers = {"WWW-Authenticate": 'Keystone uri="/v3"'} if status == 401 else None
            return JSONResponse(glance_error(status, message), status, headers=headers)

    return run
