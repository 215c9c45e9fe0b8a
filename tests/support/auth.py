"""Keystone password authentication for tests and benchmarks that speak HTTP."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def password_auth(password: str, user: str = "admin", project: str = "admin") -> dict[str, Any]:
    """The body of `POST /v3/auth/tokens` for a Default-domain user and project."""
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": user, "domain": {"id": "default"}, "password": password}
                },
            },
            "scope": {"project": {"name": project, "domain": {"id": "default"}}},
        }
    }


def issue_token(auth_url: str, password: str) -> str:
    """A project-scoped admin token from the identity service at `auth_url` (…/v3)."""
    request = urllib.request.Request(
        auth_url + "/auth/tokens",
        data=json.dumps(password_auth(password)).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(response.headers["X-Subject-Token"])
