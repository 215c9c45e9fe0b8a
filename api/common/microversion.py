"""Microversions, as Nova and Cinder negotiate them: read, checked, echoed.

A client names its version in `OpenStack-API-Version: <service> X.Y` (or the
service's older header); none means the minimum and `latest` the maximum; a
version outside the range is a 406, a malformed one a 400. The version in use
is echoed on every response, errors included, with a `Vary`. Each service
describes its own names and range in a `MicroversionRules`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import total_ordering

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "openstack-api-version"


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


@dataclass(frozen=True)
class MicroversionRules:
    service: str  # echoed in OpenStack-API-Version
    aliases: tuple[str, ...]  # service names accepted from clients
    minimum: tuple[int, int]
    maximum: tuple[int, int]
    legacy_header: str  # the service's older request header
    legacy_echo: str  # the older header echoed back
    vary: str
    format_hint: str  # how a malformed version is explained

    def requested(self, headers: dict[str, str]) -> str | None:
        new = headers.get(HEADER)
        if new:
            for part in new.split(","):
                service, _, value = part.strip().partition(" ")
                if service.lower() in self.aliases and value.strip():
                    return value.strip()
        legacy = headers.get(self.legacy_header)
        return legacy.strip() if legacy else None

    def negotiate(self, text: str | None) -> Version:
        if text is None:
            return Version(*self.minimum)
        if text.lower() == "latest":
            return Version(*self.maximum)
        major, dot, minor = text.partition(".")
        if not (dot and major.isdigit() and minor.isdigit()):
            raise UnsupportedVersion(
                400,
                f"API Version String {text} is of invalid format. Must be of format "
                f"{self.format_hint}.",
            )
        version = Version(int(major), int(minor))
        if not Version(*self.minimum) <= version <= Version(*self.maximum):
            raise UnsupportedVersion(
                406,
                f"Version {text} is not supported by the API. Minimum is "
                f"{version_text(self.minimum)} and maximum is {version_text(self.maximum)}.",
            )
        return version


class MicroversionMiddleware:
    """Put the negotiated version in `request.state.version`; echo it back."""

    def __init__(self, app: ASGIApp, rules: MicroversionRules) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        rules = self.rules
        try:
            version = rules.negotiate(rules.requested(headers))
        except UnsupportedVersion as error:
            await _reject(error, rules, send)
            return
        scope.setdefault("state", {})["version"] = version

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (HEADER.encode(), f"{rules.service} {version}".encode()),
                    (rules.legacy_echo.encode(), str(version).encode()),
                    (b"vary", rules.vary.encode()),
                ]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_version)


async def _reject(error: UnsupportedVersion, rules: MicroversionRules, send: Send) -> None:
    name = "badRequest" if error.status == 400 else "computeFault"
    body = json.dumps({name: {"code": error.status, "message": error.message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"vary", rules.vary.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
