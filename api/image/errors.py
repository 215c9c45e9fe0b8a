"""Glance's error body: webob's JSON error, `{"message", "code", "title"}`,
with the code spelled as the status line ("404 Not Found"). openstacksdk and
the CLI take the message from its top-level `message`."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from api.common.errors import ApiError


def glance_error(status: int, message: str) -> dict[str, Any]:
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return {"message": message, "code": f"{status} {title}", "title": title}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, message)


def unsupported_media(content_type: str | None) -> ApiError:
    return ApiError(415, f"Unsupported Content-Type: {content_type or 'none'}")
