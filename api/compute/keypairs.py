"""/os-keypairs: a user's key pairs (201/204 from 2.2, 200/202 before)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.common.errors import ApiError
from api.common.http import Call, json_response
from api.compute.support import (
    Caller,
    ComputeDeps,
    bad_request,
    body_of,
    caller,
    dispatch,
    micro_time,
    not_found,
    require_admin,
    wrap,
)
from commands.compute.keypairs import CreateKeyPair, DeleteKeyPair

Doc = dict[str, Any]


class KeypairApi:
    def __init__(self, deps: ComputeDeps) -> None:
        self.deps = deps

    def routes(self) -> list[Route]:
        base = "/v2.1/os-keypairs"
        return [
            Route(base, wrap(self.list), methods=["GET"]),
            Route(base, wrap(self.create), methods=["POST"]),
            Route(base + "/{name}", wrap(self.show), methods=["GET"]),
            Route(base + "/{name}", wrap(self.delete), methods=["DELETE"]),
        ]

    def _user(self, call: Call, who: Caller) -> str:
        user_id = call.query.get("user_id")
        if user_id and user_id != who.user_id:
            if not who.at_least("2.10"):
                raise bad_request("Additional properties are not allowed (user_id)")
            require_admin(who, "os_compute_api:os-keypairs:index")
            return user_id
        return who.user_id

    def _view(self, who: Caller, doc: Doc) -> Doc:
        out: Doc = {
            "name": doc["name"],
            "public_key": doc["public_key"],
            "fingerprint": doc["fingerprint"],
        }
        if who.at_least("2.2"):
            out["type"] = doc["type"]
        return out

    def list(self, call: Call) -> Response:
        who = caller(self.deps, call)
        docs = self.deps.queries.keypairs(self._user(call, who))
        return json_response({"keypairs": [{"keypair": self._view(who, d)} for d in docs]})

    def show(self, call: Call) -> Response:
        who = caller(self.deps, call)
        user_id = self._user(call, who)
        doc = self.deps.queries.keypair(user_id, call.path["name"])
        if doc is None:
            raise not_found(f"Keypair {call.path['name']} not found for user {user_id}")
        out = self._view(who, doc) | {
            "user_id": user_id,
            "created_at": micro_time(doc["created_at"]),
            "deleted": False,
            "deleted_at": None,
            "updated_at": None,
            "id": int(doc["id"][:7], 16),  # Nova's integer id; stable per key pair
        }
        return json_response({"keypair": out})

    def create(self, call: Call) -> Response:
        who = caller(self.deps, call)
        body = body_of(call, "keypair")
        name = body.get("name")
        if not isinstance(name, str):
            raise bad_request("Invalid input for field/attribute name. Value: None.")
        key_type = body.get("type", "ssh")
        if "type" in body and not who.at_least("2.2"):
            raise bad_request("Additional properties are not allowed ('type' was unexpected)")
        if key_type not in ("ssh", "x509"):
            raise bad_request(f"Invalid input for field/attribute type. Value: {key_type}.")
        user_id = body.get("user_id")
        if user_id is not None and not who.at_least("2.10"):
            raise bad_request("Additional properties are not allowed ('user_id' was unexpected)")
        public_key = body.get("public_key")
        if public_key is not None and not isinstance(public_key, str):
            raise bad_request("Invalid input for field/attribute public_key.")
        owner = user_id or who.user_id
        limit = self.deps.queries.quota_limits(who.project_id)["key_pairs"]
        if 0 <= limit <= len(self.deps.queries.keypairs(owner)):
            raise ApiError(403, "Quota exceeded, too many key pairs.")
        outcome = dispatch(
            self.deps,
            who,
            CreateKeyPair(name=name, public_key=public_key, key_type=key_type, user_id=user_id),
        )
        doc = self.deps.queries.keypair(str(outcome["user_id"]), name)
        assert doc is not None  # the bus waits for the projection before answering
        out = self._view(who, doc) | {"user_id": outcome["user_id"]}
        if "secret_private_key" in outcome:
            out["private_key"] = outcome["secret_private_key"]
        return json_response({"keypair": out}, 201 if who.at_least("2.2") else 200)

    def delete(self, call: Call) -> Response:
        who = caller(self.deps, call)
        user_id = self._user(call, who)
        dispatch(self.deps, who, DeleteKeyPair(name=call.path["name"], user_id=user_id))
        return Response(status_code=204 if who.at_least("2.2") else 202)
