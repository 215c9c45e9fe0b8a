"""Compute microversions: read from either header, checked, echoed back.

Clients send `X-OpenStack-Nova-API-Version: 2.x` (older) or
`OpenStack-API-Version: compute 2.x` (newer); none means 2.1 and `latest`
means the maximum. The version in use is echoed in both headers with a
`Vary`, on every response, errors included, as Nova does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import total_ordering

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 60)
LEGACY_HEADER = "x-openstack-nova-api-version"
HEADER = "openstack-api-version"
VARY = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return (self.major, self.minor) < (other.major, other.minor)

    def at_least(self, text: str) -> bool:
        major, minor = text.split(".")
        return (self.major, self.minor) >= (int(major), int(minor))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


def version_text(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


class UnsupportedVersion(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def requested(headers: dict[str, str]) -> str | None:
    new = headers.get(HEADER)
    if new:
        for part in new.split(","):
            service, _, value = part.strip().partition(" ")
            if service.lower() == "compute" and value.strip():
                return value.strip()
    legacy = headers.get(LEGACY_HEADER)
    return legacy.strip() if legacy else None


def negotiate(text: str | None) -> Version:
    if text is None:
        return Version(*MIN_VERSION)
    if text.lower() == "latest":
        return Version(*MAX_VERSION)
    major, dot, minor = text.partition(".")
    if not (dot and major.isdigit() and minor.isdigit()):
        raise UnsupportedVersion(
            400,
            f"API Version String {text} is of invalid format. Must be of format MajorNum.MinorNum.",
        )
    version = Version(int(major), int(minor))
    if not Version(*MIN_VERSION) <= version <= Version(*MAX_VERSION):
        raise UnsupportedVersion(
            406,
            f"Version {text} is not supported by the API. Minimum is "
            f"{version_text(MIN_VERSION)} and maximum is {version_text(MAX_VERSION)}.",
        )
    return version


class MicroversionMiddleware:
    """Put the negotiated version in `request.state.version`; echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        try:
            version = negotiate(requested(headers))
        except UnsupportedVersion as error:
            await _reject(error, send)
            return
        scope.setdefault("state", {})["version"] = version

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"openstack-api-version", f"compute {version}".encode()),
                    (b"x-openstack-nova-api-version", str(version).encode()),
                    (b"vary", VARY.encode()),
                ]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_version)


async def _reject(error: UnsupportedVersion, send: Send) -> None:
    name = "badRequest" if error.status == 400 else "computeFault"
    body = json.dumps({name: {"code": error.status, "message": error.message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"vary", VARY.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
