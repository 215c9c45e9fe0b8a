"""Forward one HTTP/1.x request per connection, rewriting its headers on the way.

Just enough HTTP for the metadata path (small GETs from cloud-init, curl or
busybox wget): the request head is parsed, hop-by-hop and caller-chosen
headers are replaced, the body (Content-Length only) is passed on, and the
upstream's answer is streamed back untouched. Every exchange is one request
on one connection (`Connection: close` both ways), so nothing needs to know
where one response ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024
TIMEOUT = 30.0
# Meaningful for one connection only (RFC 9110 7.6.1), so never forwarded.
HOP_BY_HOP = ("connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade")

Connect = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


class BadRequest(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        found = [v for k, v in self.headers if k.lower() == name.lower()]
        return found[0] if len(found) == 1 else None

    def encode(self, drop: Iterable[str], add: Iterable[tuple[str, str]]) -> bytes:
        dropped = {n.lower() for n in drop} | set(HOP_BY_HOP) | {"content-length"}
        kept = [(k, v) for k, v in self.headers if k.lower() not in dropped]
        lines = [f"{self.method} {self.target} {self.version}"]
        lines += [f"{k}: {v}" for k, v in [*kept, *add]]
        if self.body:
            lines.append(f"Content-Length: {len(self.body)}")
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


async def read_request(reader: asyncio.StreamReader) -> Request:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as error:
        raise BadRequest(
            431, "Request Header Fields Too Large", "request head too large"
        ) from error
    lines = head.decode("latin-1").split("\r\n")[:-2]
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, "Bad Request", "malformed request line")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise BadRequest(400, "Bad Request", "malformed header")
        headers.append((name, value.strip()))
    request = Request(parts[0], parts[1], parts[2], headers, b"")
    if request.header("transfer-encoding") is not None:
        raise BadRequest(411, "Length Required", "chunked bodies are not accepted")
    length = request.header("content-length") or "0"
    if not length.isdigit() or int(length) > MAX_BODY:
        raise BadRequest(413, "Content Too Large", "body too large or length invalid")
    request.body = await reader.readexactly(int(length))
    return request


def error_response(status: int, reason: str, message: str) -> bytes:
    body = f"{status} {reason}\n\n{message}\n".encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=UTF-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def forward(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    connect: Connect,
    rewrite: Callable[[Request], bytes],
) -> None:
    """Serve one connection: read, rewrite, forward, stream the answer back."""
    reader, writer = client
    try:
        async with asyncio.timeout(TIMEOUT):
            try:
                request = await read_request(reader)
                outgoing = rewrite(request)
            except BadRequest as error:
                writer.write(error_response(error.status, error.reason, str(error)))
                return
            try:
                up_reader, up_writer = await connect()
            except OSError as error:
                message = f"the metadata service is unreachable: {error}"
                writer.write(error_response(502, "Bad Gateway", message))
                return
            try:
                up_writer.write(outgoing)
                await up_writer.drain()
                while chunk := await up_reader.read(65536):
                    writer.write(chunk)
                    await writer.drain()
            finally:
                up_writer.close()
    except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
        pass  # the client left or stalled: nothing to answer
    finally:
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()
