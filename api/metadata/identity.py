"""Who is asking: the identity a proxy vouched for, checked against its signature.

Nova answers a request whose proxy headers are missing or malformed with 400
and one whose signature does not match with 403; so does this.
"""

from __future__ import annotations

import ipaddress
import logging

from starlette.datastructures import Headers

from infra.metadata_signing import (
    FORWARDED_FOR,
    NETWORK_ID,
    ROUTER_ID,
    SIGNATURE,
    Identity,
    verify,
)

log = logging.getLogger(__name__)


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _one(headers: Headers, name: str) -> str | None:
    values = headers.getlist(name)
    if len(values) > 1:
        raise Refused(400, f"Multiple {name} headers found within request.")
    return values[0].strip() if values else None


def identify(headers: Headers, secret: str) -> Identity:
    address = _one(headers, FORWARDED_FOR)
    router, network = _one(headers, ROUTER_ID), _one(headers, NETWORK_ID)
    signature = _one(headers, SIGNATURE)
    if not address:
        raise Refused(400, f"{FORWARDED_FOR} header is missing from request.")
    try:
        ipaddress.ip_address(address)
    except ValueError as error:
        raise Refused(400, f"{FORWARDED_FOR} is not an IP address.") from error
    if bool(router) == bool(network):
        raise Refused(400, f"Exactly one of {ROUTER_ID} and {NETWORK_ID} is required.")
    who = Identity(address, "router" if router else "network", router or network or "")
    if not signature or not verify(secret, who, signature):
        log.warning("metadata request with a bad signature for %s via %s", address, who.kind)
        raise Refused(403, "Invalid proxy request signature.")
    return who
