"""What one convergence pass found: outcomes to record as commands."""

from __future__ import annotations

from dataclasses import dataclass, field

from infra.image_store import DataFacts


@dataclass
class Report:
    provisioned: list[str] = field(default_factory=list)
    extended: dict[str, int] = field(default_factory=dict)
    gone: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # volume id -> reason
    snapshots_available: list[str] = field(default_factory=list)
    snapshots_gone: list[str] = field(default_factory=list)
    snapshots_failed: dict[str, str] = field(default_factory=dict)
    # volume id -> (image id, what the image's data is) / (image id, reason)
    uploaded: dict[str, tuple[str, DataFacts]] = field(default_factory=dict)
    uploads_failed: dict[str, tuple[str, str]] = field(default_factory=dict)
    removed_files: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not any(vars(self).values())
