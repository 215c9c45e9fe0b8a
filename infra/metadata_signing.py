"""The instance identity the metadata proxies vouch for, and its signature.

An instance reaches the metadata service through a proxy in its router or
DHCP namespace, which alone knows where a request really came from: it names
the source address (`X-Forwarded-For`) and the router or network it arrived
through. The host-side relay signs those headers with a secret it shares with
the metadata API, so a request that did not pass through a proxy — or whose
identity headers a tenant wrote — is refused (Nova's X-Instance-ID-Signature,
applied to what the proxy knows rather than to an instance id, since here
the API, not the agent, resolves the instance).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from infra.settings import Settings

FORWARDED_FOR = "X-Forwarded-For"
ROUTER_ID = "X-Neutron-Router-ID"
NETWORK_ID = "X-Neutron-Network-ID"
SIGNATURE = "X-Metadata-Signature"
# Headers only the proxies and the relay may set: dropped from what clients send.
IDENTITY_HEADERS = (FORWARDED_FOR, ROUTER_ID, NETWORK_ID, SIGNATURE)


@dataclass(frozen=True)
class Identity:
    address: str  # the instance's fixed IP
    kind: str  # "router" or "network"
    resource_id: str

    def message(self) -> bytes:
        return f"{self.address}\n{self.kind}\n{self.resource_id}".encode()


def sign(secret: str, identity: Identity) -> str:
    return hmac.new(secret.encode(), identity.message(), hashlib.sha256).hexdigest()


def verify(secret: str, identity: Identity, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, identity), signature)


def shared_secret(settings: Settings) -> str:
    """The configured secret, else one kept in the data folder.

    `strata up` and its network agent process share the data folder, so the
    first of them to ask creates the file (exclusively: both may start at
    once) and the other reads it.
    """
    if settings.metadata_secret:
        return settings.metadata_secret
    path = Path(settings.data_dir) / "metadata-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate = path.with_name(f"metadata-secret.{os.getpid()}.tmp")
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        # link() publishes a complete file and fails when another process
        # published first; either way everyone then reads the same secret.
        with contextlib.suppress(FileExistsError):
            os.link(candidate, path)
        candidate.unlink()
    return path.read_text().strip()
