"""Image members: the owner shares, the member accepts or rejects.

The owner sees every member of its image; a member sees only itself; an
image that is not shared has no members to show (403, as in Glance).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.common.errors import ApiError
from api.common.http import Call, json_response
from api.image.errors import bad_request, forbidden
from api.image.render import member_doc
from api.image.support import Caller, ImageDeps, caller, dispatch, image_uuid, visible_row
from commands.image import members as cmds


class MemberApi:
    def __init__(self, deps: ImageDeps, wrap: Callable[[Callable[[Call], Response]], Any]) -> None:
        self.deps = deps
        self.wrap = wrap

    def routes(self) -> list[Route]:
        base = "/v2/images/{image_id}/members"
        return [
            Route(base, self.wrap(self.list), methods=["GET"]),
            Route(base, self.wrap(self.create), methods=["POST"]),
            Route(base + "/{member}", self.wrap(self.show), methods=["GET"]),
            Route(base + "/{member}", self.wrap(self.update), methods=["PUT"]),
            Route(base + "/{member}", self.wrap(self.delete), methods=["DELETE"]),
        ]

    def _shared(self, who: Caller, call: Call) -> dict[str, Any]:
        row = visible_row(self.deps, who, call.path["image_id"])
        if row["visibility"] != "shared":
            raise forbidden("Only shared images have members.")
        return row

    @staticmethod
    def _sees_all(who: Caller, row: dict[str, Any]) -> bool:
        return who.ctx.is_admin or row["owner"] == who.viewer.project_id

    def list(self, call: Call) -> Response:
        who = caller(self.deps, call)
        row = self._shared(who, call)
        members = self.deps.queries.members(row["id"])
        if not self._sees_all(who, row):
            members = [m for m in members if m["member"] == who.viewer.project_id]
        return json_response(
            {"members": [member_doc(m) for m in members], "schema": "/v2/schemas/members"}
        )

    def show(self, call: Call) -> Response:
        who = caller(self.deps, call)
        row = self._shared(who, call)
        member = call.path["member"]
        found = self.deps.queries.member(row["id"], member)
        if found is None or not (self._sees_all(who, row) or member == who.viewer.project_id):
            raise ApiError(404, f"Member {member} not found for image {row['id']}")
        return json_response(member_doc(found))

    def create(self, call: Call) -> Response:
        who = caller(self.deps, call)
        body = call.body if isinstance(call.body, dict) else {}
        member = body.get("member")
        if not isinstance(member, str) or not member:
            raise bad_request("Member to be added not specified")
        image_id = image_uuid(call.path["image_id"])
        dispatch(self.deps, who, cmds.AddImageMember(image_id=image_id, member=member))
        return self._answer(str(image_id), member)

    def update(self, call: Call) -> Response:
        who = caller(self.deps, call)
        body = call.body if isinstance(call.body, dict) else {}
        status = body.get("status")
        if not isinstance(status, str):
            raise bad_request("Status not specified")
        image_id = image_uuid(call.path["image_id"])
        member = call.path["member"]
        command = cmds.UpdateImageMember(image_id=image_id, member=member, status=status)
        dispatch(self.deps, who, command)
        return self._answer(str(image_id), member)

    def delete(self, call: Call) -> Response:
        who = caller(self.deps, call)
        image_id = image_uuid(call.path["image_id"])
        member = call.path["member"]
        dispatch(self.deps, who, cmds.RemoveImageMember(image_id=image_id, member=member))
        return Response(status_code=204)

    def _answer(self, image_id: str, member: str) -> Response:
        found = self.deps.queries.member(image_id, member)
        if found is None:
            raise ApiError(404, f"Member {member} not found for image {image_id}")
        return json_response(member_doc(found))
