"""/servers: list, detail, show, create, update, delete and tags."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import Route

from api.common.http import Call, json_response
from api.compute import render
from api.compute.server_create import create_command
from api.compute.support import (
    Caller,
    ComputeDeps,
    bad_request,
    body_of,
    caller,
    dispatch,
    limit_of,
    links,
    min_version,
    not_found,
    wrap,
)
from commands.compute.servers import DeleteServer, ReplaceServerTags, UpdateServer
from domain.compute.states import STATUSES, vm_states_of
from projections.base import format_time
from projections.compute.queries import ServerFilter
from projections.volume.queries import VolumeQueries

Doc = dict[str, Any]
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


class ServerApi:
    def __init__(self, deps: ComputeDeps) -> None:
        self.deps = deps

    def routes(self) -> list[Route]:
        base = "/v2.1/servers"
        return [
            Route(base, wrap(self.list_brief), methods=["GET"]),
            Route(base, wrap(self.create), methods=["POST"]),
            Route(base + "/detail", wrap(self.list_detail), methods=["GET"]),
            Route(base + "/{id}", wrap(self.show), methods=["GET"]),
            Route(base + "/{id}", wrap(self.update), methods=["PUT"]),
            Route(base + "/{id}", wrap(self.delete), methods=["DELETE"]),
            Route(base + "/{id}/tags", wrap(self.tags), methods=["GET"]),
            Route(base + "/{id}/tags", wrap(self.replace_tags), methods=["PUT"]),
            Route(base + "/{id}/tags", wrap(self.clear_tags), methods=["DELETE"]),
            Route(base + "/{id}/tags/{tag}", wrap(self.has_tag), methods=["GET"]),
            Route(base + "/{id}/tags/{tag}", wrap(self.add_tag), methods=["PUT"]),
            Route(base + "/{id}/tags/{tag}", wrap(self.remove_tag), methods=["DELETE"]),
        ]

    # -- reads ----------------------------------------------------------------
    def visible(self, who: Caller, server_id: str) -> Doc:
        doc = self.deps.queries.server(server_id, None if who.is_admin else who.project_id)
        if doc is None:
            raise not_found(f"Instance {server_id} could not be found.")
        return doc

    def detail(self, who: Caller, doc: Doc) -> Doc:
        addrs = render.addresses(self.deps.network, [doc["id"]]).get(doc["id"], {})
        return render.server_detail(doc, who, self.deps.base_url, addrs)

    def _filter(self, call: Call, who: Caller) -> ServerFilter:
        q = call.query
        everyone = who.is_admin and "all_tenants" in q and q["all_tenants"].lower() not in FALSE
        f = ServerFilter(project_id=None if everyone else who.project_id)
        if who.is_admin and (q.get("project_id") or q.get("tenant_id")):
            f.project_id = q.get("project_id") or q.get("tenant_id")
        f.name = q.get("name") or None
        if "status" in q:
            status = q["status"].upper()
            if status not in STATUSES and who.at_least("2.38"):
                raise bad_request(f"Invalid status value: {q['status']}")
            f.vm_states = vm_states_of(status)
        f.image_id = (q.get("image") or "").rstrip("/").rsplit("/", 1)[-1] or None
        f.flavor_id = (q.get("flavor") or "").rstrip("/").rsplit("/", 1)[-1] or None
        if who.is_admin:
            f.host = q.get("host") or q.get("node") or None
            f.deleted = q.get("deleted", "").lower() in TRUE
        f.reservation_id = q.get("reservation_id") or None
        if q.get("changes-since"):
            f.changes_since = _iso(q["changes-since"])
        for key, attr in (
            ("tags", "tags"),
            ("tags-any", "tags_any"),
            ("not-tags", "not_tags"),
            ("not-tags-any", "not_tags_any"),
        ):
            if q.get(key):
                setattr(f, attr, [t for t in q[key].split(",") if t])
        return f

    def _page(self, call: Call, who: Caller, path: str) -> tuple[list[Doc], list[Doc]]:
        limit = limit_of(call)
        page, more = self.deps.queries.page(
            self._filter(call, who), call.query.get("marker"), limit
        )
        next_links: list[Doc] = []
        if page and more:
            query = {k: v for k, v in call.query.items() if k != "marker"}
            query.update(limit=str(limit), marker=page[-1]["id"])
            href = f"{self.deps.base_url}/v2.1/{path}?{urlencode(query)}"
            next_links = [{"rel": "next", "href": href}]
        return page, next_links

    def list_brief(self, call: Call) -> Response:
        who = caller(self.deps, call)
        page, next_links = self._page(call, who, "servers")
        body: Doc = {"servers": [render.server_brief(d, self.deps.base_url) for d in page]}
        if next_links:
            body["servers_links"] = next_links
        return json_response(body)

    def list_detail(self, call: Call) -> Response:
        who = caller(self.deps, call)
        page, next_links = self._page(call, who, "servers/detail")
        addrs = render.addresses(self.deps.network, [d["id"] for d in page])
        servers = [
            render.server_detail(d, who, self.deps.base_url, addrs.get(d["id"], {})) for d in page
        ]
        body: Doc = {"servers": servers}
        if next_links:
            body["servers_links"] = next_links
        return json_response(body)

    def show(self, call: Call) -> Response:
        who = caller(self.deps, call)
        return json_response({"server": self.detail(who, self.visible(who, call.path["id"]))})

    # -- writes ------------------------------------------------------------------
    def create(self, call: Call) -> Response:
        who = caller(self.deps, call)
        command, want_reservation = create_command(self.deps, who, call.body)
        outcome = dispatch(self.deps, who, command)
        if want_reservation:
            return json_response({"reservation_id": outcome["reservation_id"]}, 202)
        server_id = str(outcome["id"])
        server = {
            "id": server_id,
            "links": links(self.deps.base_url, "servers", server_id),
            "OS-DCF:diskConfig": "MANUAL",
            "security_groups": [{"name": n} for n in command.security_group_names],
            # Nova returns a generated admin password; Strata injects keys, not
            # passwords, so this one is never set on the guest.
            "adminPass": secrets.token_urlsafe(9),
        }
        location = f"{self.deps.base_url}/v2.1/servers/{server_id}"
        return json_response({"server": server}, 202, headers={"Location": location})

    def update(self, call: Call) -> Response:
        who = caller(self.deps, call)
        server_id = self.visible(who, call.path["id"])["id"]
        body = body_of(call, "server")
        unknown = set(body) - {"name", "description", "accessIPv4", "accessIPv6"}
        if unknown or ("description" in body and not who.at_least("2.19")):
            extra = ", ".join(sorted(unknown or {"description"}))
            raise bad_request(f"Additional properties are not allowed ({extra} was unexpected)")
        description = body.get("description")
        dispatch(
            self.deps,
            who,
            UpdateServer(
                server_id=uuid.UUID(server_id),
                name=body.get("name"),
                description=description,
                clear_description="description" in body and description is None,
            ),
        )
        return json_response({"server": self.detail(who, self.visible(who, server_id))})

    def delete(self, call: Call) -> Response:
        who = caller(self.deps, call)
        doc = self.visible(who, call.path["id"])
        fips = [
            uuid.UUID(fip)
            for entry in doc["body"].get("ports", [])
            for fip in self.deps.network.floatingips_of_port(entry["port_id"])
        ]
        volumes = VolumeQueries(self.deps.queries.db).attachments({"server_id": doc["id"]})
        command = DeleteServer(
            server_id=uuid.UUID(doc["id"]),
            floatingip_ids=fips,
            volume_ids=sorted({uuid.UUID(a["volume_id"]) for a in volumes}),
        )
        dispatch(self.deps, who, command)
        return Response(status_code=204)

    # -- tags (2.26) -----------------------------------------------------------------
    def _tagged(self, call: Call) -> tuple[Caller, Doc]:
        who = caller(self.deps, call)
        min_version(who, "2.26")
        return who, self.visible(who, call.path["id"])

    def _set_tags(self, who: Caller, doc: Doc, tags: list[str]) -> list[str]:
        command = ReplaceServerTags(server_id=uuid.UUID(doc["id"]), tags=tags)
        return list(dispatch(self.deps, who, command)["tags"])

    def tags(self, call: Call) -> Response:
        _, doc = self._tagged(call)
        return json_response({"tags": doc["tags"]})

    def replace_tags(self, call: Call) -> Response:
        who, doc = self._tagged(call)
        tags = call.body.get("tags") if isinstance(call.body, dict) else None
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise bad_request("Invalid input for field/attribute tags.")
        return json_response({"tags": self._set_tags(who, doc, tags)})

    def clear_tags(self, call: Call) -> Response:
        who, doc = self._tagged(call)
        self._set_tags(who, doc, [])
        return Response(status_code=204)

    def has_tag(self, call: Call) -> Response:
        _, doc = self._tagged(call)
        if call.path["tag"] not in doc["tags"]:
            raise not_found(f"Tag {call.path['tag']} could not be found.")
        return Response(status_code=204)

    def add_tag(self, call: Call) -> Response:
        who, doc = self._tagged(call)
        tag = call.path["tag"]
        if tag in doc["tags"]:
            return Response(status_code=204)
        self._set_tags(who, doc, [*doc["tags"], tag])
        location = f"{self.deps.base_url}/v2.1/servers/{doc['id']}/tags/{tag}"
        return Response(status_code=201, headers={"Location": location})

    def remove_tag(self, call: Call) -> Response:
        who, doc = self._tagged(call)
        tag = call.path["tag"]
        if tag not in doc["tags"]:
            raise not_found(f"Tag {tag} could not be found.")
        self._set_tags(who, doc, [t for t in doc["tags"] if t != tag])
        return Response(status_code=204)


def _iso(text: str) -> str:
    """A changes-since time in the stored spelling (sortable as text)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise bad_request(
            f"Invalid input for query parameters changes-since. Value: {text}."
        ) from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_time(moment)
