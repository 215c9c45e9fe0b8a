"""Neutron's error body, with the `type` clients and Tempest look at."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from starlette.responses import JSONResponse, Response

from api.common.errors import ApiError, status_and_message
from api.common.http import Call, SyncEndpoint
from domain.errors import DomainError
from domain.network.errors import PreconditionFailed

log = logging.getLogger(__name__)

TYPE_OF_STATUS = {
    400: "HTTPBadRequest",
    401: "HTTPUnauthorized",
    403: "HTTPForbidden",
    404: "HTTPNotFound",
    405: "HTTPMethodNotAllowed",
    409: "HTTPConflict",
    412: "HTTPPreconditionFailed",
    413: "HTTPRequestEntityTooLarge",
    500: "HTTPInternalServerError",
}


def neutron_error(status: int, message: str, type_name: str | None = None) -> dict[str, Any]:
    return {
        "NeutronError": {
            "type": type_name or TYPE_OF_STATUS.get(status, "HTTPError"),
            "message": message,
            "detail": "",
        }
    }


class NeutronApiError(ApiError):
    """An API-level error with a Neutron type (BadRequest, OverQuota, ...)."""

    def __init__(self, status: int, message: str, type_name: str) -> None:
        super().__init__(status, message)
        self.type_name = type_name


def bad_request(message: str) -> NeutronApiError:
    return NeutronApiError(400, message, "HTTPBadRequest")


def error_response(error: Exception) -> Response:
    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or 'body'}: {item['msg']}"
            for item in error.errors()
        )
        return _json(400, f"Invalid input for operation: {problems}.", "HTTPBadRequest")
    if isinstance(error, PreconditionFailed):
        return _json(412, error.message, error.type_name)
    status, message = status_and_message(error)
    type_name = getattr(error, "type_name", None)
    if status == 404 and type_name is None and isinstance(error, DomainError):
        type_name = "NotFound"
    return _json(status, message, type_name)


def _json(status: int, message: str, type_name: str | None) -> Response:
    headers = {"WWW-Authenticate": 'Keystone uri="/v3"'} if status == 401 else None
    return JSONResponse(neutron_error(status, message, type_name), status, headers=headers)


def guarded(func: Callable[[Call], Response]) -> SyncEndpoint:
    """Known failures become Neutron errors here, keeping their `type`;
    anything else reaches the shared wrapper, which logs it as a 500."""

    def run(call: Call) -> Response:
        try:
            return func(call)
        except (DomainError, ApiError, ValidationError) as error:
            return error_response(error)

    return run
