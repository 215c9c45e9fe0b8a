"""Errors the domain raises when an invariant would be broken.

Each service's API turns them into its own error format; the kind decides
the status code (400, 403, 404, 409), the message is for the user.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every rule violation; never a programming error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    """The request asks for something that can never be valid (400)."""


class Forbidden(DomainError):
    """The actor may not do this (403)."""


class NotFound(DomainError):
    """The resource does not exist or is not visible to the actor (404)."""

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"Could not find {kind}: {ident}.")
        self.kind = kind
        self.ident = ident


class Conflict(DomainError):
    """The request clashes with the current state (409)."""
