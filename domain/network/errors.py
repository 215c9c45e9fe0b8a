"""Neutron's error types as domain errors.

Neutron clients (and Tempest) look at the `type` of a `NeutronError`, not only
at the status code, so each rule violation names the type Neutron would use.
The status still comes from the base kind (InvalidInput 400, NotFound 404,
Conflict 409); `PreconditionFailed` is the one kind the shared errors lack.
"""

from __future__ import annotations

from domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound


class NeutronNotFound(NotFound):
    def __init__(self, kind: str, ident: object, type_name: str = "") -> None:
        super().__init__(kind, ident)
        self.type_name = type_name or "".join(p.capitalize() for p in kind.split()) + "NotFound"
        self.message = f"{kind[0].upper()}{kind[1:]} {ident} could not be found."


class Invalid(InvalidInput):
    """400 with an explicit Neutron type (InvalidInput, BadRequest, ...)."""

    def __init__(self, message: str, type_name: str = "InvalidInput") -> None:
        if type_name == "InvalidInput":
            message = f"Invalid input for operation: {message}"
        super().__init__(message)
        self.type_name = type_name


class InUse(Conflict):
    """409 with an explicit Neutron type (NetworkInUse, IpAddressInUse, ...)."""

    def __init__(self, message: str, type_name: str) -> None:
        super().__init__(message)
        self.type_name = type_name


class PreconditionFailed(DomainError):
    """If-Match named a revision the resource no longer has (412)."""

    type_name = "PreconditionFailed"


def check_revision(current: int, expected: int | None) -> None:
    if expected is not None and expected != current:
        raise PreconditionFailed(
            f"Constrained revision {expected} does not match current revision {current}."
        )


class Denied(Forbidden):
    """403: the policy does not let this caller do this."""

    type_name = "PolicyNotAuthorized"

    def __init__(self, rule: str) -> None:
        super().__init__(f"({rule}) is disallowed by policy.")
