"""Authentication: who a request body proves to be, and what a token still means.

Issuing a token writes no event (tokens are stateless Fernet payloads); only
revocation does. Validation decrypts the token, then checks it against the
read models: the user and project still enabled, no matching revocation, and
the roles as they are now. The result is cached per token until any identity
event is projected, so a revocation counts from the moment it is projected.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from api.common.errors import ApiError
from commands.ports import PasswordHasher
from infra.tokens import TokenCodec, TokenInvalid, TokenPayload
from projections.identity.queries import IdentityQueries, RoleRef, get

CACHE_SIZE = 10_000


def unauthorized(
    message: str = "The request you have made requires authentication.",
) -> ApiError:
    return ApiError(401, message)


@dataclass
class ValidToken:
    payload: TokenPayload
    user: dict[str, Any]
    user_domain: dict[str, Any]
    roles: list[RoleRef]
    project: dict[str, Any] | None = None
    project_domain: dict[str, Any] | None = None
    domain: dict[str, Any] | None = None
    app_credential: dict[str, Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def user_id(self) -> str:
        return self.payload.user_id

    @property
    def role_names(self) -> frozenset[str]:
        return frozenset(r.name for r in self.roles)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.role_names


class Authenticator:
    def __init__(
        self,
        queries: IdentityQueries,
        codec: TokenCodec,
        passwords: PasswordHasher,
        position: Callable[[], int],
    ) -> None:
        self.queries = queries
        self.codec = codec
        self.passwords = passwords
        self._position = position
        self._cache: OrderedDict[str, tuple[int, ValidToken]] = OrderedDict()
        self._lock = threading.Lock()

    # -- issuing ----------------------------------------------------------
    def authenticate(self, auth: dict[str, Any]) -> tuple[str, ValidToken]:
        identity = _dict(auth.get("identity"), "auth.identity")
        methods = identity.get("methods")
        if not isinstance(methods, list) or not methods:
            raise ApiError(400, "auth.identity.methods must be a non-empty list.")
        scope = auth.get("scope")
        if "application_credential" in methods:
            payload = self._by_app_credential(identity, scope)
        elif "token" in methods:
            payload = self._by_token(identity, scope)
        elif "password" in methods:
            payload = self._by_password(identity, scope)
        else:
            raise unauthorized(f"Unsupported authentication method: {methods[0]}.")
        valid = self._resolve(payload)
        if (payload.project_id or payload.domain_id) and not valid.roles:
            raise unauthorized("The user has no role on the requested scope.")
        return self.codec.issue(payload), valid

    def _by_password(self, identity: dict[str, Any], scope: Any) -> TokenPayload:
        password = _dict(identity.get("password"), "auth.identity.password")
        user_ref = _dict(password.get("user"), "auth.identity.password.user")
        secret = user_ref.get("password")
        if not isinstance(secret, str):
            raise ApiError(400, "auth.identity.password.user.password is required.")
        user = self._find_user(user_ref)
        if (
            user is None
            or not user["password_hash"]
            or not self.passwords.verify(user["password_hash"], secret)
        ):
            raise unauthorized("The request you have made requires authentication.")
        self._check_enabled_user(user)
        return self._scoped(user, ["password"], scope)

    def _by_token(self, identity: dict[str, Any], scope: Any) -> TokenPayload:
        token_ref = _dict(identity.get("token"), "auth.identity.token")
        parent = self.validate(str(token_ref.get("id", "")))
        if parent.payload.app_cred_id:
            raise ApiError(403, "A token from an application credential cannot be rescoped.")
        user = parent.user
        methods = sorted(set(parent.payload.methods) | {"token"})
        return self._scoped(user, methods, scope, parent=parent.payload)

    def _by_app_credential(self, identity: dict[str, Any], scope: Any) -> TokenPayload:
        if scope:
            raise ApiError(401, "Application credentials cannot request a scope.")
        ref = _dict(
            identity.get("application_credential"),
            "auth.identity.application_credential",
        )
        secret = ref.get("secret")
        if not isinstance(secret, str):
            raise ApiError(400, "auth.identity.application_credential.secret is required.")
        credential: dict[str, Any] | None
        if "id" in ref:
            credential = get(self.queries.db, "app_credentials", str(ref["id"]))
        else:
            user = self._find_user(_dict(ref.get("user"), "application_credential.user"))
            credential = None
            if user is not None:
                rows = [
                    r
                    for r in _select(
                        self.queries,
                        "app_credentials",
                        {"user_id": user["id"], "name": ref.get("name")},
                    )
                ]
                credential = rows[0] if rows else None
        if credential is None or not self.passwords.verify(credential["secret_hash"], secret):
            raise unauthorized()
        expires_at = _parse_time(credential["expires_at"])
        if expires_at is not None and expires_at <= datetime.now(UTC):
            raise unauthorized("The application credential has expired.")
        user = get(self.queries.db, "users", credential["user_id"])
        if user is None:
            raise unauthorized()
        self._check_enabled_user(user)
        return self.codec.new_payload(
            user["id"],
            ["application_credential"],
            project_id=credential["project_id"],
            app_cred_id=credential["id"],
            not_after=expires_at,
        )

    def _find_user(self, ref: dict[str, Any]) -> dict[str, Any] | None:
        if "id" in ref:
            return get(self.queries.db, "users", str(ref["id"]))
        name = ref.get("name")
        if not isinstance(name, str):
            raise ApiError(400, "A user needs an id, or a name and a domain.")
        domain = self._find_domain(_dict(ref.get("domain"), "user.domain"))
        return self.queries.user_by_name(name, domain["id"]) if domain else None

    def _find_domain(self, ref: dict[str, Any]) -> dict[str, Any] | None:
        if "id" in ref:
            return get(self.queries.db, "domains", str(ref["id"]))
        if "name" in ref:
            return self.queries.domain_by_name(str(ref["name"]))
        raise ApiError(400, "A domain needs an id or a name.")

    def _check_enabled_user(self, user: dict[str, Any]) -> None:
        domain = get(self.queries.db, "domains", user["domain_id"])
        if not user["enabled"] or domain is None or not domain["enabled"]:
            raise unauthorized("The account is disabled.")

    def _scoped(
        self,
        user: dict[str, Any],
        methods: list[str],
        scope: Any,
        parent: TokenPayload | None = None,
    ) -> TokenPayload:
        project_id = domain_id = None
        system = False
        if scope in (None, "unscoped"):
            if scope is None and parent is None and user.get("default_project_id"):
                candidate = user["default_project_id"]
                if self.queries.effective_roles(user["id"], project_id=candidate):
                    project_id = candidate
        elif isinstance(scope, dict) and "project" in scope:
            project = self._find_project(_dict(scope["project"], "scope.project"))
            if project is None:
                raise unauthorized("Could not find the project to scope to.")
            if not project["enabled"]:
                raise unauthorized("The project is disabled.")
            project_id = project["id"]
        elif isinstance(scope, dict) and "domain" in scope:
            domain = self._find_domain(_dict(scope["domain"], "scope.domain"))
            if domain is None or not domain["enabled"]:
                raise unauthorized("Could not find the domain to scope to.")
            domain_id = domain["id"]
        elif isinstance(scope, dict) and "system" in scope:
            system = True
        else:
            raise ApiError(400, "The scope must name a project, a domain or the system.")
        return self.codec.new_payload(
            user["id"],
            methods,
            project_id=project_id,
            domain_id=domain_id,
            system=system,
            parent=parent,
        )

    def _find_project(self, ref: dict[str, Any]) -> dict[str, Any] | None:
        if "id" in ref:
            return get(self.queries.db, "projects", str(ref["id"]))
        name = ref.get("name")
        domain = self._find_domain(_dict(ref.get("domain"), "scope.project.domain"))
        if domain is None or not isinstance(name, str):
            return None
        return self.queries.project_by_name(name, domain["id"])

    # -- validating -------------------------------------------------------
    def validate(self, token: str) -> ValidToken:
        if not token:
            raise unauthorized()
        position = self._position()
        with self._lock:
            cached = self._cache.get(token)
            if cached is not None and cached[0] == position:
                self._cache.move_to_end(token)
                valid = cached[1]
                if valid.payload.expires_at <= datetime.now(UTC):
                    raise unauthorized("The token has expired.")
                return valid
        try:
            payload = self.codec.read(token)
        except TokenInvalid as error:
            raise unauthorized("The token is not valid.") from error
        if payload.expires_at <= datetime.now(UTC):
            raise unauthorized("The token has expired.")
        if self.queries.is_revoked(
            payload.audit_ids,
            payload.user_id,
            payload.project_id,
            payload.domain_id,
            payload.app_cred_id,
            payload.issued_at,
        ):
            raise unauthorized("The token has been revoked.")
        valid = self._resolve(payload)
        with self._lock:
            self._cache[token] = (position, valid)
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return valid

    def _resolve(self, payload: TokenPayload) -> ValidToken:
        db = self.queries.db
        user = get(db, "users", payload.user_id)
        if user is None:
            raise unauthorized("The token's user no longer exists.")
        self._check_enabled_user(user)
        user_domain = get(db, "domains", user["domain_id"]) or {}
        valid = ValidToken(payload=payload, user=user, user_domain=user_domain, roles=[])
        if payload.project_id:
            project = get(db, "projects", payload.project_id)
            if project is None or not project["enabled"]:
                raise unauthorized("The token's project is gone or disabled.")
            valid.project = project
            valid.project_domain = get(db, "domains", project["domain_id"])
            valid.roles = self.queries.effective_roles(user["id"], project_id=project["id"])
        elif payload.domain_id:
            domain = get(db, "domains", payload.domain_id)
            if domain is None or not domain["enabled"]:
                raise unauthorized("The token's domain is gone or disabled.")
            valid.domain = domain
            valid.roles = self.queries.effective_roles(user["id"], domain_id=domain["id"])
        elif payload.system:
            admin_roles = self.queries.system_roles(user["id"])
            valid.roles = admin_roles
        if payload.app_cred_id:
            credential = get(db, "app_credentials", payload.app_cred_id)
            if credential is None:
                raise unauthorized("The application credential no longer exists.")
            delegated = set(credential["role_ids"])
            granted = self.queries.expand_roles(delegated)
            held = {r.id for r in valid.roles}
            valid.roles = [r for r in granted if r.id in held]
            valid.app_credential = credential
        return valid


def _dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(400, f"{where} must be an object.")
    return value


def _select(queries: IdentityQueries, table: str, filters: dict[str, Any]) -> list[dict[str, Any]]:
    from projections.identity.queries import select

    return select(queries.db, table, filters)


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
