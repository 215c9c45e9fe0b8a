"""Who is asking, established by the API before a command runs.

Handlers get these facts instead of a token: they decide with them (for
example whether a user may delegate a role) and the bus stamps them on every
event as metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Context:
    user_id: str = "system"
    project_id: str | None = None
    domain_id: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    request_id: str = ""
    source: str = "internal"
    idempotency_key: str | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def meta(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "project_id": self.project_id or self.domain_id or "system",
            "request_id": self.request_id,
            "source": self.source,
            "idempotency_key": self.idempotency_key,
        }


SYSTEM_CONTEXT = Context(roles=frozenset({"admin"}))
