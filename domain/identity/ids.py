"""How identity ids look on the wire.

Aggregates are keyed by UUIDs; Keystone spells ids as 32 hex digits, and the
default domain is called `default` by every tool, so it gets a fixed UUID.
"""

from __future__ import annotations

import uuid

DEFAULT_DOMAIN_ID = uuid.UUID("00000000-0000-4000-8000-00000000d0d0")
DEFAULT_DOMAIN_NAME = "Default"
_DEFAULT_INT = DEFAULT_DOMAIN_ID.int


def api_id(value: uuid.UUID) -> str:
    # Replay spells three ids per row: comparing the integers and taking the
    # bytes' hex skips UUID.__eq__ and the `hex` property (Python code), with
    # the same result; anything that is not exactly a UUID keeps that route.
    if type(value) is uuid.UUID:
        number = value.int
        return "default" if number == _DEFAULT_INT else number.to_bytes(16, "big").hex()
    return "default" if value == DEFAULT_DOMAIN_ID else value.hex


def parse_id(text: str) -> uuid.UUID | None:
    """The UUID an API id names, or None when it cannot name any resource."""
    if text == "default":
        return DEFAULT_DOMAIN_ID
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
