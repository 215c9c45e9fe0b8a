"""Password and secret hashing with argon2id (argon2-cffi)."""

from __future__ import annotations

from argon2 import PasswordHasher as Argon2Hasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Argon2Passwords:
    """Slow on purpose: a stolen read model should not give passwords away."""

    def __init__(self, time_cost: int = 2, memory_cost: int = 19 * 1024) -> None:
        # OWASP's minimum argon2id profile (19 MiB, t=2): about 20 ms here,
        # slow enough against offline guessing without starving a 2-core host.
        self._hasher = Argon2Hasher(time_cost=time_cost, memory_cost=memory_cost)

    def hash(self, password: str) -> str:
        return str(self._hasher.hash(password))

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return bool(self._hasher.verify(password_hash, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
