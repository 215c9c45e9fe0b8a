"""A security group and its rules, kept together in one aggregate.

Keeping the rules inside the group makes "no duplicate rule" an invariant of
one aggregate, and gives agents one revision to compare per group.
"""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.network.base import NetworkResource, check_tags
from domain.network.errors import InUse, NeutronNotFound
from domain.network.rules import check_rule, default_rules, same_rule

DEFAULT_GROUP_NAMESPACE = uuid.UUID("c2b0a4f0-8e49-4b1f-a3a5-77e5b1c0f9d4")


def default_group_id(project_id: str) -> uuid.UUID:
    """One `default` group per project, whoever creates it first."""
    return uuid.uuid5(DEFAULT_GROUP_NAMESPACE, project_id)


class SecurityGroup(NetworkResource):
    class Created(Aggregate.Created):
        class_version = 1
        project_id: str
        name: str
        description: str
        stateful: bool
        rules: dict[str, dict[str, Any]]
        tags: list[str]

    # `id` is chosen by the caller: claims (VNI, MAC) and addresses name the
    # resource before it exists, in the same transaction.
    @event(Created)
    def __init__(
        self,
        id: uuid.UUID,
        project_id: str,
        name: str,
        description: str,
        stateful: bool,
        rules: dict[str, dict[str, Any]],
        tags: list[str],
    ) -> None:
        self.project_id = project_id
        self.name = name
        self.description = description
        self.stateful = stateful
        self.rules = rules
        self.tags = check_tags(tags)

    @classmethod
    def default_for(cls, project_id: str) -> SecurityGroup:
        group_id = default_group_id(project_id)
        rules = {r["id"]: r for r in default_rules(str(group_id))}
        return cls(
            id=group_id,
            project_id=project_id,
            name="default",
            description="Default security group",
            stateful=True,
            rules=rules,
            tags=[],
        )

    @property
    def is_default(self) -> bool:
        return self.id == default_group_id(self.project_id)

    class RuleAdded(Aggregate.Event):
        class_version = 1
        rule: dict[str, Any]

    class RuleRemoved(Aggregate.Event):
        class_version = 1
        rule_id: str

    def add_rule(self, rule_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        self.require_alive()
        rule = check_rule(fields)
        if rule["remote_group_id"] == "self":
            rule["remote_group_id"] = str(self.id)
        for existing in self.rules.values():
            if same_rule(existing, rule):
                raise InUse(
                    f"Security group rule already exists. Rule id is {existing['id']}.",
                    "SecurityGroupRuleExists",
                )
        rule["id"] = rule_id
        self._add_rule(rule)
        return rule

    @event(RuleAdded)
    def _add_rule(self, rule: dict[str, Any]) -> None:
        self.rules = {**self.rules, rule["id"]: rule}
        self.revision_number += 1

    def remove_rule(self, rule_id: str) -> None:
        self.require_alive()
        if rule_id not in self.rules:
            raise NeutronNotFound("security group rule", rule_id)
        self._remove_rule(rule_id)

    @event(RuleRemoved)
    def _remove_rule(self, rule_id: str) -> None:
        self.rules = {k: v for k, v in self.rules.items() if k != rule_id}
        self.revision_number += 1

    def update(self, expected_revision: int | None = None, **changes: Any) -> dict[str, Any]:
        if self.is_default and changes.get("name", "default") != "default":
            raise InUse(
                "Updating default security group not allowed.",
                "SecurityGroupCannotUpdateDefault",
            )
        return super().update(expected_revision, **changes)

    def delete_by(self, is_admin: bool) -> None:
        if self.is_default and not is_admin:
            raise InUse(
                "Insufficient rights for removing default security group.",
                "SecurityGroupCannotRemoveDefault",
            )
        self.delete()
