"""`strata audit`, `strata show --at`, `strata project-state` and `strata diff`.

They read the audit index and fold resources from the log directly, so they
work against a stopped cloud as well as a running one (the index is brought
up to date first).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from infra.settings import Settings
from projections.audit.queries import MAX_LIMIT, AuditFilter, AuditQueries
from projections.audit.timetravel import diff, parse_moment, project_state, state_at
from runtime.history import AUDIT_COLUMNS, render

if TYPE_CHECKING:
    from runtime.cloud import Cloud

FORMATS = ("table", "json", "csv")


def _moment(text: str) -> datetime:
    try:
        return parse_moment(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from error


def add_commands(sub: Any) -> None:
    """Add the subcommands to `strata`'s parser (`sub` from add_subparsers)."""
    audit = sub.add_parser("audit", help="who did what: filter the audit log")
    audit.add_argument("resource_id", nargs="?", help="one resource's history (= --resource)")
    audit.add_argument("--resource", default="")
    audit.add_argument("--project", default="", help="the owning project")
    audit.add_argument("--user", default="", help="the acting user")
    audit.add_argument("--request-id", default="")
    audit.add_argument("--type", default="", help="e.g. strata.identity.user.created or a prefix*")
    audit.add_argument("--since", type=_moment)
    audit.add_argument("--until", type=_moment)
    audit.add_argument("--limit", type=int, default=10_000)
    audit.add_argument("--format", choices=FORMATS, default="table")
    show = sub.add_parser("show", help="a resource as it was at a moment")
    show.add_argument("resource_id")
    show.add_argument("--at", type=_moment, default=None)
    show.add_argument("--format", choices=("json", "table"), default="json")
    state = sub.add_parser("project-state", help="what a project owned at a moment")
    state.add_argument("project_id")
    state.add_argument("--at", type=_moment, default=None)
    state.add_argument("--format", choices=FORMATS, default="table")
    changes = sub.add_parser("diff", help="a resource's field changes between two moments")
    changes.add_argument("resource_id")
    changes.add_argument("--from", dest="start", type=_moment, required=True)
    changes.add_argument("--to", dest="end", type=_moment, default=None)
    changes.add_argument("--format", choices=FORMATS, default="table")


def _cloud(settings: Settings) -> Cloud:
    from runtime.cloud import build_cloud

    return build_cloud(settings)  # brings every read model, the index too, up to date


def _uuid(text: str, command: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        print(f"strata {command}: {text!r} is not a resource id", file=sys.stderr)
        return None


def _pages(queries: AuditQueries, wanted: AuditFilter, total: int) -> Iterator[dict[str, Any]]:
    after, seen = wanted.after, 0
    while seen < total:
        size = min(MAX_LIMIT, total - seen)
        page = queries.search(AuditFilter(**{**vars(wanted), "after": after, "limit": size}))
        yield from page
        seen += len(page)
        if len(page) < size:
            return
        after = int(page[-1]["notification_id"])


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    resource = args.resource_id or args.resource
    if resource and _uuid(resource, "audit") is None:
        return 2
    cloud = _cloud(settings)
    try:
        wanted = AuditFilter(
            resource_id=resource or None,
            project_id=args.project or None,
            user_id=args.user or None,
            request_id=args.request_id or None,
            event_type=args.type or None,
            since=args.since,
            until=args.until,
        )
        rows = list(_pages(AuditQueries(cloud.db), wanted, args.limit))
    finally:
        cloud.close()
    if not rows and args.resource_id:
        print(f"strata audit: no events for {args.resource_id}", file=sys.stderr)
        return 1
    shown = [
        {
            "id": int(r["notification_id"]),
            "time": r["occurred_at"],
            "type": r["event_type"],
            **{k: r[k] for k in ("resource_id", "user_id", "project_id", "request_id")},
            **{k: r[k] for k in ("resource_type", "actor_project_id", "idempotency_key")},
            "source": r["source"],
        }
        for r in rows
    ]
    print(render(shown, AUDIT_COLUMNS, args.format))
    return 0


def cmd_show(settings: Settings, args: argparse.Namespace) -> int:
    resource = _uuid(args.resource_id, "show")
    if resource is None:
        return 2
    cloud = _cloud(settings)
    try:
        snapshot = state_at(cloud.store, resource, args.at or datetime.now(UTC))
    finally:
        cloud.close()
    if snapshot is None:
        print(f"strata show: no events for {args.resource_id}", file=sys.stderr)
        return 1
    shown = snapshot.to_dict()
    if args.format == "json":
        print(json.dumps(shown, indent=2, sort_keys=True))
    else:
        state = shown.pop("state")
        rows = [{"field": k, "value": v} for k, v in shown.items()]
        rows += [{"field": f"state.{k}", "value": v} for k, v in sorted(state.items())]
        print(render(rows, ("field", "value"), "table"))
    return 0


def cmd_project_state(settings: Settings, args: argparse.Namespace) -> int:
    at = args.at or datetime.now(UTC)
    cloud = _cloud(settings)
    try:
        owned = project_state(AuditQueries(cloud.db), cloud.store, args.project_id, at)
    finally:
        cloud.close()
    rows = [s.to_dict() for s in owned]
    if args.format == "json":
        print(json.dumps(rows, indent=2, sort_keys=True))
        return 0
    shown = [{**r, "name": r["state"].get("name")} for r in rows]
    print(render(shown, ("id", "type", "name", "version"), args.format))
    return 0


def cmd_diff(settings: Settings, args: argparse.Namespace) -> int:
    resource = _uuid(args.resource_id, "diff")
    if resource is None:
        return 2
    cloud = _cloud(settings)
    try:
        before = state_at(cloud.store, resource, args.start)
        after = state_at(cloud.store, resource, args.end or datetime.now(UTC))
    finally:
        cloud.close()
    if before is None or after is None:
        print(f"strata diff: no events for {args.resource_id}", file=sys.stderr)
        return 1
    rows = [vars(change) for change in diff(before, after)]
    print(render(rows, ("field", "before", "after"), args.format))
    return 0


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "audit": cmd_audit,
    "show": cmd_show,
    "project-state": cmd_project_state,
    "diff": cmd_diff,
}
