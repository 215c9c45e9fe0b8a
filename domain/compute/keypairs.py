"""A key pair: a user's public key, injected into the servers they boot.

Key pairs belong to a user (not a project) and are found by name; the name
claim `("keypair", user_id, name)` keeps names unique per user.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from eventsourcing.domain import Aggregate, event

from domain.base import Resource
from domain.errors import InvalidInput

KEYPAIR_NAME = re.compile(r"^[a-zA-Z0-9 _.@-]+$")
KEY_TYPES = ("ssh", "x509")


def check_keypair_name(name: str) -> str:
    if not name or len(name) > 255 or not KEYPAIR_NAME.match(name) or name.strip() != name:
        raise InvalidInput(
            "Keypair data is invalid: Keypair name contains unsafe characters"
            if name
            else "Keypair data is invalid: Keypair name must be string and between "
            "1 and 255 characters long"
        )
    return name


def ssh_fingerprint(public_key: str) -> str:
    """Nova's fingerprint: MD5 of the decoded key blob, colon-separated hex."""
    parts = public_key.strip().split()
    if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-")):
        raise InvalidInput("Keypair data is invalid: failed to generate fingerprint")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidInput("Keypair data is invalid: failed to generate fingerprint") from error
    if not blob:
        raise InvalidInput("Keypair data is invalid: failed to generate fingerprint")
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


class KeyPair(Resource):
    class Created(Aggregate.Created):
        class_version = 1
        user_id: str
        name: str
        public_key: str
        fingerprint: str
        key_type: str

    @event(Created)
    def __init__(
        self, user_id: str, name: str, public_key: str, fingerprint: str, key_type: str
    ) -> None:
        if key_type not in KEY_TYPES:
            raise InvalidInput(f"Invalid key type '{key_type}'.")
        self.user_id = user_id
        self.name = check_keypair_name(name)
        self.public_key = public_key
        self.fingerprint = fingerprint
        self.key_type = key_type
