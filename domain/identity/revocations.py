"""Token revocation, as an event: tokens are stateless, so revoking one means
recording which tokens no longer count.

A revocation matches every token issued at or before its timestamp that shares
all of its set fields: one token (audit_id), everything of a user (password
change, disable, delete), of a project, or of an application credential.
"""

from __future__ import annotations

import uuid

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput


class Revocation(Aggregate):
    class Created(Aggregate.Created):
        class_version = 1
        audit_id: str | None
        user_id: uuid.UUID | None
        project_id: uuid.UUID | None
        domain_id: uuid.UUID | None
        application_credential_id: uuid.UUID | None
        reason: str

    @event(Created)
    def __init__(
        self,
        audit_id: str | None,
        user_id: uuid.UUID | None,
        project_id: uuid.UUID | None,
        domain_id: uuid.UUID | None,
        application_credential_id: uuid.UUID | None,
        reason: str,
    ) -> None:
        if not any((audit_id, user_id, project_id, domain_id, application_credential_id)):
            raise InvalidInput("A revocation must name what it revokes.")
        self.audit_id = audit_id
        self.user_id = user_id
        self.project_id = project_id
        self.domain_id = domain_id
        self.application_credential_id = application_credential_id
        self.reason = reason

    @classmethod
    def create_id(cls, **_: object) -> uuid.UUID:
        return uuid.uuid4()
