"""A webhook: where to POST the events a subscriber asked for, and how to sign them.

The secret is kept as given (a signature needs it, a hash would not do);
every answer that shows events or states redacts it.
"""

from __future__ import annotations

import re
import uuid

from eventsourcing.domain import Aggregate, event

from domain.base import Resource
from domain.errors import InvalidInput

MAX_TYPES = 50
MIN_SECRET_LENGTH = 16


# Scheme and a host; the rest is the receiver's business.
_URL = re.compile(r"^https?://[^\s/?#@]+(?:[/?#]\S*)?$", re.IGNORECASE)


def check_url(url: str) -> str:
    if not _URL.match(url):
        raise InvalidInput("A webhook URL must be an absolute http:// or https:// URL.")
    return url


def check_types(types: list[str]) -> list[str]:
    if len(types) > MAX_TYPES:
        raise InvalidInput(f"A webhook may filter on at most {MAX_TYPES} event types.")
    for name in types:
        if not name.startswith("strata.") or "*" in name[:-1]:
            raise InvalidInput(
                f"{name!r} is not an event type: use e.g. strata.identity.user.created "
                "or a prefix ending in * (strata.identity.*)."
            )
    return list(types)


class Webhook(Resource):
    class Created(Aggregate.Created):
        class_version = 1
        url: str
        secret: str
        project_id: uuid.UUID | None
        user_id: str
        types: list[str]
        filter_project_id: uuid.UUID | None
        filter_resource_id: uuid.UUID | None
        description: str

    @event(Created)
    def __init__(
        self,
        url: str,
        secret: str,
        project_id: uuid.UUID | None,
        user_id: str,
        types: list[str],
        filter_project_id: uuid.UUID | None,
        filter_resource_id: uuid.UUID | None,
        description: str,
    ) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise InvalidInput(f"A webhook secret needs at least {MIN_SECRET_LENGTH} characters.")
        self.url = check_url(url)
        self.secret = secret
        self.project_id = project_id
        self.user_id = user_id
        self.types = check_types(types)
        self.filter_project_id = filter_project_id
        self.filter_resource_id = filter_resource_id
        self.description = description
