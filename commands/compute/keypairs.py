"""Key pairs: import a public key, or have one generated and shown once."""

from __future__ import annotations

from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from commands.bus import Command, Dependencies, Outcome, handler
from commands.compute.support import KEYPAIR_CLAIM, find_keypair, release_name, take_name
from commands.context import Context
from commands.unit_of_work import UnitOfWork
from domain.compute.keypairs import KeyPair, check_keypair_name, ssh_fingerprint
from domain.errors import Conflict, Forbidden, InvalidInput


class CreateKeyPair(Command):
    name: str
    public_key: str | None = None
    key_type: Literal["ssh", "x509"] = "ssh"
    user_id: str | None = None  # admins may create for another user (2.10)


class DeleteKeyPair(Command):
    name: str
    user_id: str | None = None


def _owner(ctx: Context, user_id: str | None) -> str:
    if user_id and user_id != ctx.user_id:
        if not ctx.is_admin:
            raise Forbidden("Policy doesn't allow os_compute_api:os-keypairs to be performed.")
        return user_id
    return ctx.user_id


def generate_ssh_key() -> tuple[str, str]:
    """A new RSA key pair: (OpenSSH public key, PEM private key).

    RSA rather than ed25519 because cloud images of every age accept it;
    the private key is returned once and never stored.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return public + " Generated-by-Strata", private


@handler(CreateKeyPair)
def create_keypair(
    cmd: CreateKeyPair, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    user_id = _owner(ctx, cmd.user_id)
    check_keypair_name(cmd.name)
    private_key = None
    public_key = cmd.public_key
    if public_key is None:
        public_key, private_key = generate_ssh_key()
    fingerprint = ssh_fingerprint(public_key) if cmd.key_type == "ssh" else _x509(public_key)
    keypair = KeyPair(
        user_id=user_id,
        name=cmd.name,
        public_key=public_key.strip(),
        fingerprint=fingerprint,
        key_type=cmd.key_type,
    )
    try:
        take_name(uow, KEYPAIR_CLAIM, user_id, cmd.name, keypair.id, "keypair")
    except Conflict as error:
        raise Conflict(f"Key pair '{cmd.name}' already exists.") from error
    uow.add(keypair)
    outcome: Outcome = {"id": keypair.id, "user_id": user_id, "fingerprint": fingerprint}
    if private_key is not None:
        # `secret_` outcomes are never kept in an idempotency record.
        outcome["secret_private_key"] = private_key
    return outcome


def _x509(pem: str) -> str:
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as error:
        raise InvalidInput("Keypair data is invalid: failed to generate fingerprint") from error
    digest = cert.fingerprint(hashes.SHA1()).hex()  # Nova fingerprints x509 with SHA-1
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


@handler(DeleteKeyPair)
def delete_keypair(
    cmd: DeleteKeyPair, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    user_id = _owner(ctx, cmd.user_id)
    keypair = find_keypair(uow, user_id, cmd.name)
    keypair.delete()
    release_name(uow, KEYPAIR_CLAIM, user_id, cmd.name, keypair.id)
    return {"id": keypair.id}
