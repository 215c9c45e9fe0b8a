"""A tiny JSON client for the benchmarks that drive several services of one
`strata up` with one admin token."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

from tests.e2e.cloud import RunningCloud
from tests.support.auth import issue_token


class Api:
    def __init__(self, cloud: RunningCloud) -> None:
        self.token = issue_token(cloud.auth_url, cloud.password)
        self.url = {name: f"http://127.0.0.1:{port}" for name, port in cloud.ports.items()}

    def call(self, service: str, path: str, method: str = "GET", body: Any = None) -> Any:
        request = urllib.request.Request(
            self.url[service] + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"X-Auth-Token": self.token, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            raw = response.read()
            return json.loads(raw) if raw else None

    def upload(self, image_id: str, chunks: int, chunk: bytes) -> None:
        def body() -> Iterator[bytes]:
            for _ in range(chunks):
                yield chunk

        request = urllib.request.Request(
            f"{self.url['image']}/v2/images/{image_id}/file",
            data=body(),
            method="PUT",
            headers={
                "X-Auth-Token": self.token,
                "Content-Type": "application/octet-stream",
                "Content-Length": str(chunks * len(chunk)),
            },
        )
        urllib.request.urlopen(request, timeout=600).close()
