"""One signed POST to a webhook, and the backoff between attempts.

The signature is HMAC-SHA256 of the exact body bytes under the webhook's
secret, sent as `X-Strata-Signature: sha256=<hex>` (the GitHub convention,
so existing verification snippets work unchanged).
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.error
import urllib.request
from dataclasses import dataclass

SIGNATURE_HEADER = "X-Strata-Signature"
USER_AGENT = "strata-webhooks/1"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """What a receiver does; constant-time, so the signature cannot be guessed."""
    return hmac.compare_digest(sign(secret, body), signature)


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer at all
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    first_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 300.0
    timeout: float = 10.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return min(self.max_delay, self.first_delay * self.factor ** (attempt - 1))


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(int(response.status), None)
    except urllib.error.HTTPError as error:
        return Answer(error.code, f"HTTP {error.code} {error.reason}")
    except (urllib.error.URLError, OSError, ValueError) as error:
        return Answer(None, str(getattr(error, "reason", error)))
