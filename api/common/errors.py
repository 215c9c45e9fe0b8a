"""Errors as each OpenStack service spells them.

Every service answers failures in its own JSON shape; the status code comes
from the kind of error. Nothing unexpected leaks: an unknown exception is a
500 in the service's format with the request id, and is logged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound


class ApiError(Exception):
    """An error raised by the API layer itself (auth, bad JSON, routing)."""

    def __init__(self, status: int, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.title = title


STATUS_OF: dict[type[DomainError], int] = {
    InvalidInput: 400,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
}

KEYSTONE_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
}


def status_and_message(error: Exception) -> tuple[int, str]:
    if isinstance(error, ApiError):
        return error.status, error.message
    if isinstance(error, DomainError):
        for kind, status in STATUS_OF.items():
            if isinstance(error, kind):
                return status, error.message
        return 400, error.message
    return 500, "An unexpected error prevented the server from fulfilling your request."


def keystone_error(status: int, message: str) -> dict[str, Any]:
    return {
        "error": {
            "code": status,
            "title": KEYSTONE_TITLES.get(status, "Error"),
            "message": message,
        }
    }


ErrorBody = Callable[[int, str], dict[str, Any]]
