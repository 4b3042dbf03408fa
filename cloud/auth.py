"""Bearer-token authentication with roles, and the server's TLS / mutual-TLS credentials.

Roles: ``camera`` tokens may only ingest the camera ids they are bound to; ``operator``
tokens may query and reconstruct; ``admin`` may do both. A missing or unknown token is
UNAUTHENTICATED, a known token used outside its role is PERMISSION_DENIED. Tokens are
compared as SHA-256 digests in constant time, so the config may hold digests only.
With no tokens configured, auth is off and every caller is an anonymous admin.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import grpc

from polc.cloud.config import AuthSettings, TlsSettings

log = logging.getLogger(__name__)

#: gRPC call metadata as (key, value) pairs
MetadataPairs = Sequence[tuple[str, str | bytes]]


def invocation_metadata(context: grpc.aio.ServicerContext) -> MetadataPairs:
    """The call's metadata pairs (grpc-stubs type ``invocation_metadata()`` as a mapping;
    grpc.aio returns a tuple of (key, value) pairs)."""
    return cast(MetadataPairs, context.invocation_metadata() or ())


class AuthError(Exception):
    """A refused call: carries the gRPC status code and a message."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Principal:
    name: str
    role: str  # camera | operator | admin
    cameras: frozenset[str] = frozenset()

    def may_ingest(self, camera_id: str) -> bool:
        if self.role == "admin":
            return True
        return self.role == "camera" and ("*" in self.cameras or camera_id in self.cameras)

    @property
    def may_ingest_any(self) -> bool:
        """The role may ingest some camera (checked before a stream may take a slot)."""
        return self.role in ("camera", "admin")

    @property
    def may_operate(self) -> bool:
        return self.role in ("operator", "admin")


ANONYMOUS = Principal("anonymous", "admin", frozenset({"*"}))


class Authenticator:
    """Maps the ``authorization: Bearer <token>`` metadata of a call onto a Principal."""

    def __init__(self, settings: AuthSettings):
        self.enabled = settings.enabled
        self._tokens: list[tuple[bytes, Principal]] = []
        for i, t in enumerate(settings.tokens):
            digest = (
                hashlib.sha256(t.token.encode()).digest()
                if t.token is not None
                else bytes.fromhex(t.token_sha256 or "")
            )
            self._tokens.append(
                (digest, Principal(t.name or f"token-{i}", t.role, frozenset(t.cameras)))
            )

    def authenticate(self, metadata: MetadataPairs | None) -> Principal:
        if not self.enabled:
            return ANONYMOUS
        header = None
        for key, value in metadata or ():
            if key.lower() == "authorization":
                header = value if isinstance(value, str) else value.decode()
                break
        if header is None:
            raise AuthError(
                grpc.StatusCode.UNAUTHENTICATED, "missing 'authorization: Bearer <token>' metadata"
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(
                grpc.StatusCode.UNAUTHENTICATED, "authorization metadata must be 'Bearer <token>'"
            )
        digest = hashlib.sha256(token.strip().encode()).digest()
        found = None
        for known, principal in self._tokens:  # no early exit: constant time over the list
            if hmac.compare_digest(known, digest):
                found = principal
        if found is None:
            raise AuthError(grpc.StatusCode.UNAUTHENTICATED, "unknown token")
        return found

    def require_operator(self, metadata: MetadataPairs | None) -> Principal:
        principal = self.authenticate(metadata)
        if not principal.may_operate:
            raise AuthError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"'{principal.name}' has role {principal.role}; this call needs the operator role",
            )
        return principal

    async def authorize_operator(self, context: grpc.aio.ServicerContext) -> None:
        """:meth:`require_operator` for an RPC: aborts it with the refusal's status."""
        try:
            self.require_operator(invocation_metadata(context))
        except AuthError as exc:
            await context.abort(exc.code, str(exc))

    def require_ingest(self, principal: Principal, camera_id: str) -> None:
        if not principal.may_ingest(camera_id):
            raise AuthError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"'{principal.name}' (role {principal.role}) may not ingest camera {camera_id!r}",
            )


def server_credentials(tls: TlsSettings) -> grpc.ServerCredentials | None:
    """TLS (or mutual TLS with ``client_ca_file``) credentials, None for plaintext."""
    if not tls.enabled:
        return None
    assert tls.cert_file is not None and tls.key_file is not None
    key, cert = tls.key_file.read_bytes(), tls.cert_file.read_bytes()
    ca = tls.client_ca_file.read_bytes() if tls.client_ca_file else None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=tls.require_client_cert
    )
