"""What one convergence pass did: changes made, failures, port states.

Failures are collected per resource instead of raised, so one broken router
never stops the other networks from converging, and the caller can turn
each entry into an ERROR status event with its reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger("workers.network")


@dataclass
class Report:
    changes: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # resource id -> reason
    warnings: list[str] = field(default_factory=list)
    ports_up: set[str] = field(default_factory=set)  # local ports plugged here
    ports_waiting: set[str] = field(default_factory=set)  # local ports with no device yet

    @property
    def change_count(self) -> int:
        return len(self.changes)

    def changed(self, what: str) -> None:
        log.info("network agent: %s", what)
        self.changes.append(what)

    def failed(self, resource_id: str, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        log.warning("network agent: %s failed: %s", resource_id, reason)
        # The first failure is usually the cause; later ones its consequences.
        self.errors.setdefault(resource_id, reason)

    def warn(self, message: str) -> None:
        log.warning("network agent: %s", message)
        self.warnings.append(message)
