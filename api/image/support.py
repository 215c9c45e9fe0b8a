"""What every image endpoint needs: its adapters, the caller, the image named."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from api.common.auth import context_of, token_of
from api.common.http import Call
from api.identity.authn import Authenticator
from commands.bus import Command, CommandBus, Outcome
from commands.context import Context
from domain.image.images import ImageNotFound
from infra.image_store import ImageStore
from projections.image.queries import ImageQueries, Viewer


@dataclass
class ImageDeps:
    bus: CommandBus
    queries: ImageQueries
    authenticator: Authenticator
    store: ImageStore
    base_url: str


@dataclass(frozen=True)
class Caller:
    ctx: Context

    @property
    def viewer(self) -> Viewer:
        return Viewer(self.ctx.project_id or "", self.ctx.is_admin)


def caller(deps: ImageDeps, call: Call) -> Caller:
    return Caller(context_of(call, token_of(deps.authenticator, call)))


def dispatch(deps: ImageDeps, who: Caller, command: Command) -> Outcome:
    return deps.bus.dispatch(command, who.ctx).outcome


def image_uuid(text: str) -> uuid.UUID:
    """An id in a path; one that cannot be a UUID names no image (404)."""
    try:
        return uuid.UUID(text)
    except ValueError as error:
        raise ImageNotFound(text) from error


def visible_row(deps: ImageDeps, who: Caller, image_id: str) -> dict[str, Any]:
    row = deps.queries.visible(str(image_uuid(image_id)), who.viewer)
    if row is None:
        raise ImageNotFound(image_id)
    return row
