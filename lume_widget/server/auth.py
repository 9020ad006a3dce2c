"""Authentication for the reference server: API key, password hashes, JWTs, refresh tokens.

Access tokens are HS256 JWTs carrying ``sub`` (user id), ``email``, ``iat`` and ``exp``,
signed with a secret kept in the database so they survive a restart. They are made and
checked here with ``hmac`` (RFC 7519 with the one algorithm this server issues): a JWT
library would load its public-key algorithms (cryptography), a good part of the embedded
server's start, for tokens that only ever use HS256. Refresh tokens are
random strings stored only as SHA-256 hashes; each is single-use and is replaced on
every refresh (PROTOCOL B1.4).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from lume_widget.server.store import Store
from lume_widget.server.wire import ApiProblem

# Salted and memory-hard, but light: this server runs on laptops and in test suites that
# start hundreds of servers. The parameters are stored with each hash, so they can change.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**12, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return "$".join(
        [
            "scrypt",
            str(_SCRYPT_N),
            str(_SCRYPT_R),
            str(_SCRYPT_P),
            base64.b64encode(salt).decode(),
            base64.b64encode(digest).decode(),
        ]
    )


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        digest = hashlib.scrypt(
            password.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_JWT_HEADER = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())


def _hs256(signing_input: str, secret: str) -> bytes:
    return hmac.new(secret.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()


def encode_jwt(claims: dict[str, Any], secret: str) -> str:
    """An HS256 JWT of ``claims``."""
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{_JWT_HEADER}.{payload}"
    return f"{signing_input}.{_b64url(_hs256(signing_input, secret))}"


class InvalidTokenError(ValueError):
    """A token this server did not sign: another algorithm (``none`` included), another key,
    or not a JWT at all."""


def decode_jwt(token: str, secret: str) -> dict[str, Any]:
    """The claims of an HS256 JWT signed with ``secret``; InvalidTokenError for anything else."""
    try:
        head, payload, signature = token.split(".")
        header = json.loads(_unb64url(head))
        signed = isinstance(header, dict) and header.get("alg") == "HS256"
        if signed and hmac.compare_digest(
            _hs256(f"{head}.{payload}", secret), _unb64url(signature)
        ):
            claims = json.loads(_unb64url(payload))
            if isinstance(claims, dict):
                return claims
    except (ValueError, TypeError, RecursionError):
        pass
    raise InvalidTokenError("not an HS256 token signed by this server")


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class Principal:
    """The user a request acts for."""

    user_id: str
    email: str


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str = ""

    def __repr__(self) -> str:
        return "TokenPair(<redacted>)"


class Authenticator:
    """Issues and checks the tokens of one server."""

    def __init__(
        self, store: Store, secret: str, api_key: str, access_ttl_s: float, refresh_ttl_s: float
    ) -> None:
        self._store = store
        self._secret = secret
        self._api_key = api_key
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s

    def __repr__(self) -> str:
        return f"Authenticator(access_ttl_s={self.access_ttl_s})"

    # -- API key --------------------------------------------------------------------

    def check_api_key(self, presented: str | None) -> None:
        if not presented:
            raise ApiProblem(
                401,
                "missing API key: send it in the X-API-Key header",
                code="INVALID_API_KEY",
            )
        if not constant_time_equal(presented, self._api_key):
            raise ApiProblem(
                401,
                "invalid API key: use the key this server printed when it started",
                code="INVALID_API_KEY",
            )

    # -- access tokens --------------------------------------------------------------

    def issue_access_token(self, user_id: str, email: str) -> str:
        now = time.time()
        claims: dict[str, Any] = {
            "sub": user_id,
            "email": email,
            "iat": int(now),
            "exp": int(now + self.access_ttl_s)
            if self.access_ttl_s >= 1
            else now + self.access_ttl_s,
            "jti": secrets.token_hex(8),
        }
        return encode_jwt(claims, self._secret)

    def check_access_token(self, token: str | None) -> Principal:
        if not token:
            raise ApiProblem(
                401,
                "missing access token: send Authorization: Bearer <access token>",
                code="UNAUTHORIZED",
            )
        try:
            # Expiry is checked below with sub-second precision, so lifetimes well under a
            # second work for refresh tests.
            claims = decode_jwt(token, self._secret)
            expires = float(claims["exp"])
            subject = claims["sub"]
        except (InvalidTokenError, KeyError, TypeError, ValueError):
            raise ApiProblem(
                401, "invalid access token: log in again", code="UNAUTHORIZED"
            ) from None
        if expires <= time.time():
            raise ApiProblem(401, "access token has expired: refresh it", code="TOKEN_EXPIRED")
        return Principal(user_id=str(subject), email=str(claims.get("email", "")))

    # -- refresh tokens -------------------------------------------------------------

    def _refresh_expiry_ns(self) -> int:
        return time.time_ns() + int(self.refresh_ttl_s * 1e9)

    async def issue_pair(self, user_id: str, email: str) -> TokenPair:
        refresh = secrets.token_urlsafe(32)
        await self._store.add_refresh_token(
            hash_refresh_token(refresh), user_id, self._refresh_expiry_ns()
        )
        return TokenPair(self.issue_access_token(user_id, email), refresh)

    async def rotate(self, refresh_token: str) -> TokenPair:
        from lume_widget.server.store import StoreError

        new_refresh = secrets.token_urlsafe(32)
        try:
            user_id = await self._store.rotate_refresh_token(
                hash_refresh_token(refresh_token),
                hash_refresh_token(new_refresh),
                self._refresh_expiry_ns(),
            )
        except StoreError as exc:
            message = {
                "revoked": "refresh token has been revoked",
                "expired": "refresh token has expired",
            }.get(exc.kind, "invalid refresh token")
            # The observed production body has no code: {"error":{"message":"..."}}.
            raise ApiProblem(401, message) from None
        user = await self._store.user_by_id(user_id)
        if user is None:
            raise ApiProblem(401, "invalid refresh token")
        return TokenPair(self.issue_access_token(user_id, user["email"]), new_refresh)

    async def revoke(self, refresh_token: str) -> bool:
        return await self._store.revoke_refresh_token(hash_refresh_token(refresh_token))

    # -- passwords ------------------------------------------------------------------

    @staticmethod
    async def hash_password(password: str) -> str:
        return await asyncio.to_thread(hash_password, password)

    @staticmethod
    async def verify_password(password: str, stored: str) -> bool:
        return await asyncio.to_thread(verify_password, password, stored)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
