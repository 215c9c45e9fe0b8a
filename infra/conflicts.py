"""What a lost race says: which aggregate had moved on.

A write fails as a whole when an aggregate it writes was written first by
another (the log's primary key), or when one its command read has changed
since (`StaleRead`, from the check of the write's reads). Either way the
command runs again; what it kept of that aggregate must not be used again.
"""

from __future__ import annotations

import re
from uuid import UUID

from eventsourcing.persistence import RecordConflictError

# In the text of the error a stale read fails with, before the aggregate's id.
STALE_MARK = "stale read of "


class StaleRead(RecordConflictError):
    """An aggregate the write's command read has moved on since: like a
    lost version race, the command is run again on what is there now."""


def moved_aggregate(conflict: RecordConflictError) -> UUID | None:
    """The aggregate a write found moved on: one it read (`StaleRead`), or
    one it wrote (the log's primary key, which PostgreSQL's message names).
    None when the message does not say."""
    found = _MOVED.search(str(conflict))
    return UUID(found.group(1)) if found else None


_MOVED = re.compile(
    "(?:" + re.escape(STALE_MARK) + r"|\(originator_id, originator_version\)=\()"
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
)
