"""Fernet tokens with a rotating key repository, the way Keystone keeps them.

Keys live in a folder as files named by integers: the highest is the primary
(it encrypts), `0` is the staged key (next to be promoted), the rest only
decrypt. Rotation promotes the staged key, stages a new one, and drops the
oldest beyond `max_active`, so a key is known to every node before it encrypts.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class TokenInvalid(Exception):
    """The token is malformed, forged, or encrypted with an unknown key."""


@dataclass(frozen=True)
class TokenPayload:
    user_id: str
    methods: list[str]
    expires_at: datetime
    issued_at: datetime
    audit_ids: list[str]
    project_id: str | None = None
    domain_id: str | None = None
    system: bool = False
    app_cred_id: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def audit_id(self) -> str:
        return self.audit_ids[0]

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "u": self.user_id,
                "m": self.methods,
                "e": self.expires_at.timestamp(),
                "i": self.issued_at.timestamp(),
                "a": self.audit_ids,
                "p": self.project_id,
                "d": self.domain_id,
                "s": self.system,
                "c": self.app_cred_id,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> TokenPayload:
        data = json.loads(raw)
        return cls(
            user_id=data["u"],
            methods=data["m"],
            expires_at=datetime.fromtimestamp(data["e"], UTC),
            issued_at=datetime.fromtimestamp(data["i"], UTC),
            audit_ids=data["a"],
            project_id=data["p"],
            domain_id=data["d"],
            system=data["s"],
            app_cred_id=data["c"],
        )


def new_audit_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")


class KeyRepository:
    def __init__(self, folder: Path, max_active: int = 3) -> None:
        self.folder = folder
        self.max_active = max_active

    def ensure(self) -> None:
        """Create the folder with a staged and a primary key on first use."""
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        if not self._indexes():
            self._write(0, Fernet.generate_key())
            self._write(1, Fernet.generate_key())

    def rotate(self) -> None:
        self.ensure()
        indexes = self._indexes()
        staged = (self.folder / "0").read_bytes()
        self._write(max(indexes) + 1, staged)
        self._write(0, Fernet.generate_key())
        for index in sorted(i for i in self._indexes() if i != 0)[: -(self.max_active - 1)]:
            (self.folder / str(index)).unlink()

    def all_keys(self) -> list[bytes]:
        """Primary first, then the older keys, then the staged key."""
        indexes = sorted(self._indexes(), reverse=True)
        ordered = [i for i in indexes if i != 0] + ([0] if 0 in indexes else [])
        return [(self.folder / str(i)).read_bytes().strip() for i in ordered]

    def _indexes(self) -> list[int]:
        if not self.folder.exists():
            return []
        return [int(p.name) for p in self.folder.iterdir() if p.name.isdigit()]

    def _write(self, index: int, key: bytes) -> None:
        path = self.folder / str(index)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(key)
        os.chmod(tmp, 0o600)
        tmp.replace(path)


class TokenCodec:
    def __init__(self, keys: KeyRepository, ttl_seconds: int) -> None:
        self._keys = keys
        self.ttl = timedelta(seconds=ttl_seconds)
        self._fernet = MultiFernet([Fernet(k) for k in keys.all_keys()])

    def reload(self) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in self._keys.all_keys()])

    def issue(self, payload: TokenPayload) -> str:
        return self._fernet.encrypt(payload.to_json()).decode()

    def read(self, token: str) -> TokenPayload:
        try:
            raw = self._fernet.decrypt(token.encode())
            return TokenPayload.from_json(raw)
        except (InvalidToken, ValueError, KeyError, TypeError) as error:
            raise TokenInvalid("The token is not valid.") from error

    def new_payload(
        self,
        user_id: str,
        methods: list[str],
        *,
        project_id: str | None = None,
        domain_id: str | None = None,
        system: bool = False,
        app_cred_id: str | None = None,
        parent: TokenPayload | None = None,
        not_after: datetime | None = None,
    ) -> TokenPayload:
        now = datetime.now(UTC)
        expires = parent.expires_at if parent else now + self.ttl
        if not_after is not None:
            expires = min(expires, not_after)
        audit_ids = [new_audit_id()] + ([parent.audit_ids[-1]] if parent else [])
        return TokenPayload(
            user_id=user_id,
            methods=methods,
            expires_at=expires,
            issued_at=now,
            audit_ids=audit_ids,
            project_id=project_id,
            domain_id=domain_id,
            system=system,
            app_cred_id=app_cred_id,
        )
