"""Unauthenticated documents: the version list and the schemas.

keystoneauth reads the version list from the unversioned catalog URL (a 300,
as Glance answers) and keeps entries with an id, a status and a self link.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.common.http import Call, json_response
from api.image import schemas

# Glance's image API minor versions, newest first; each adds calls Strata
# either serves or clients do not need (import, multi-store, cache).
MINOR_VERSIONS = range(16, -1, -1)


def versions(base_url: str) -> dict[str, Any]:
    entries = []
    for minor in MINOR_VERSIONS:
        entries.append(
            {
                "id": f"v2.{minor}",
                "status": "CURRENT" if minor == MINOR_VERSIONS[0] else "SUPPORTED",
                "links": [{"rel": "self", "href": f"{base_url}/v2/"}],
            }
        )
    return {"versions": entries}


class MetaApi:
    def __init__(self, base_url: str, wrap: Callable[[Callable[[Call], Response]], Any]) -> None:
        self.base_url = base_url
        self.wrap = wrap

    def routes(self) -> list[Route]:
        documents = {
            "/v2/schemas/image": schemas.image_schema,
            "/v2/schemas/images": schemas.images_schema,
            "/v2/schemas/member": schemas.member_schema,
            "/v2/schemas/members": schemas.members_schema,
        }
        out = [
            Route("/", self.wrap(self._root), methods=["GET"]),
            Route("/versions", self.wrap(self._versions), methods=["GET"]),
            Route("/v2", self.wrap(self._root), methods=["GET"]),
            Route("/v2/", self.wrap(self._root), methods=["GET"]),
        ]
        for path, make in documents.items():
            out.append(Route(path, self.wrap(_document(make)), methods=["GET"]))
        return out

    def _root(self, call: Call) -> Response:
        return json_response(versions(self.base_url), 300)

    def _versions(self, call: Call) -> Response:
        return json_response(versions(self.base_url))


def _document(make: Callable[[], dict[str, Any]]) -> Callable[[Call], Response]:
    def show(call: Call) -> Response:
        return json_response(make())

    return show
