"""Block storage microversions: `OpenStack-API-Version: volume 3.x`.

Absent means 3.0 and `latest` the maximum; a version outside the range is a
406. The version in use is echoed (with the legacy
`OpenStack-Volume-microversion` header gophercloud reads) and a `Vary`, on
every response, errors included, as Cinder does.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.compute.microversion import UnsupportedVersion, Version, version_text

MIN_VERSION = (3, 0)
MAX_VERSION = (3, 70)
HEADER = "openstack-api-version"
LEGACY_HEADER = "x-openstack-volume-api-version"
VARY = "OpenStack-API-Version"


def requested(headers: dict[str, str]) -> str | None:
    new = headers.get(HEADER)
    if new:
        for part in new.split(","):
            service, _, value = part.strip().partition(" ")
            if service.lower() in ("volume", "block-storage") and value.strip():
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
            400, f"API Version String {text} is of invalid format. Must be of format 3.x."
        )
    version = Version(int(major), int(minor))
    if not Version(*MIN_VERSION) <= version <= Version(*MAX_VERSION):
        raise UnsupportedVersion(
            406,
            f"Version {text} is not supported by the API. Minimum is "
            f"{version_text(MIN_VERSION)} and maximum is {version_text(MAX_VERSION)}.",
        )
    return version


class VolumeMicroversionMiddleware:
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
                    (b"openstack-api-version", f"volume {version}".encode()),
                    (b"openstack-volume-microversion", str(version).encode()),
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
