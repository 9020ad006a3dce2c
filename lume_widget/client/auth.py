"""Credentials for every request: the API key, and a bearer token refreshed once, single-flight.

:class:`LumeAuth` is an ``httpx.Auth``: it adds ``X-API-Key`` to every request and
``Authorization: Bearer`` to all but ``/auth/*``, refreshes proactively when the JWT's
``exp`` (read without verifying) is near, and on a 401 refreshes once and retries once.
Refresh tokens are single-use (PROTOCOL B7.27), so concurrent callers share one refresh:
whoever holds the lock refreshes, the others see the token changed and just retry.
A revoked refresh token clears the stored tokens and falls back to logging in again
with the password, if one was given (B7.28); otherwise it is an AuthenticationError.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

import httpx

from lume_widget.core.errors_map import certificate_message, is_certificate_problem
from lume_widget.core.wire import error_info, looks_like_html, redact_url, unwrap
from lume_widget.errors import AuthenticationError, ConnectionFailedError

__all__ = ["LumeAuth", "jwt_expiry"]

logger = logging.getLogger(__name__)

AUTH_PREFIX = "/api/v1/auth/"
_VERBS = {"login": "log in", "refresh": "renew the session"}
ADMIN_PREFIX = "/admin/"
"""Routes of the reference server's own admin token: no bearer is sent there, and their 401
never spends a refresh token (a refresh token is single-use, PROTOCOL B7.27)."""


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (seconds since the epoch), read without verifying; None if absent."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeDecodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


class LumeAuth(httpx.Auth):
    """API key plus bearer token with single-flight refresh; see the module docstring."""

    def __init__(
        self,
        api_key: str,
        *,
        access_token: str | None = None,
        refresh_token: str | None = None,
        email: str | None = None,
        password: str | None = None,
        refresh_margin_s: float = 300.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._api_key = api_key
        self._access_token = access_token
        self._refresh_token = refresh_token
        self._email = email
        self._password = password
        self._margin = refresh_margin_s
        self._wall_clock = wall_clock
        self._lock = asyncio.Lock()
        self._expiry: tuple[str, float | None] | None = None
        """The last access token whose ``exp`` was read, and that ``exp`` (read once a token)."""
        self._client: httpx.AsyncClient | None = None
        self.refresh_count = 0
        self.login_count = 0

    def __repr__(self) -> str:
        return f"LumeAuth(api_key=***, token={'***' if self._access_token else None})"

    def bind(self, client: httpx.AsyncClient) -> None:
        """The client used for ``/auth/*`` calls (they bypass this auth to avoid recursion)."""
        self._client = client

    @property
    def api_key(self) -> str:
        return self._api_key

    @property
    def has_token(self) -> bool:
        return self._access_token is not None

    def headers(self) -> dict[str, str]:
        """The headers of an authenticated request (also used on WebSocket upgrades)."""
        headers = {"X-API-Key": self._api_key}
        if self._access_token:
            headers["Authorization"] = f"Bearer {self._access_token}"
        return headers

    async def access_token(self) -> str | None:
        """The current access token, refreshed first if it expires within the margin."""
        if self._expiring_soon():
            await self.refresh(self._access_token)
        return self._access_token

    async def login(self) -> None:
        """Log in with email and password (``POST /api/v1/auth/login``)."""
        if not self._email or not self._password:
            raise AuthenticationError(
                "No email and password to log in with. Pass email= and password= (or set "
                "LUME_EMAIL and LUME_PASSWORD), or pass a token."
            )
        data = await self._auth_call("login", {"email": self._email, "password": self._password})
        self.login_count += 1
        self._adopt(data)

    async def refresh(self, stale_token: str | None) -> None:
        """Replace ``stale_token``; concurrent callers with the same stale token share one refresh."""
        async with self._lock:
            if self._access_token != stale_token and self._access_token is not None:
                return  # someone else refreshed while we waited
            if self._refresh_token:
                try:
                    data = await self._auth_call("refresh", {"refresh_token": self._refresh_token})
                except AuthenticationError as exc:
                    logger.info("refresh token refused; clearing stored tokens")
                    self._access_token = self._refresh_token = None
                    if not (self._email and self._password):
                        raise AuthenticationError(
                            f"The session could not be renewed ({exc.details.get('reason')}). A "
                            "refresh token works once, so it may have been revoked or used by "
                            "another client holding the same tokens. Log in again with email= "
                            "and password= (or LUME_EMAIL and LUME_PASSWORD), or pass a fresh "
                            "token.",
                            status=exc.status,
                            code=exc.code,
                        ) from exc
                else:
                    self.refresh_count += 1
                    self._adopt(data)
                    return
            if self._email and self._password:
                await self.login()
                return
            self._access_token = None
            raise AuthenticationError(
                "The access token was refused or expired and cannot be renewed (no refresh token "
                "or password). Log in again with email and password, or pass a fresh token."
            )

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["X-API-Key"] = self._api_key
        if request.url.path.startswith((AUTH_PREFIX, ADMIN_PREFIX)):
            yield request
            return
        token = await self.access_token()
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401 or not (self._refresh_token or self._password):
            return
        await response.aread()
        await self.refresh(token)
        if self._access_token:
            request.headers["Authorization"] = f"Bearer {self._access_token}"
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Any:  # pragma: no cover - async only
        raise RuntimeError("LumeAuth works with httpx.AsyncClient only")

    def _expiring_soon(self) -> bool:
        if self._access_token is None or not (self._refresh_token or self._password):
            return False
        token = self._access_token
        if self._expiry is None or self._expiry[0] != token:
            self._expiry = (token, jwt_expiry(token))
        exp = self._expiry[1]
        return exp is not None and exp - self._wall_clock() <= self._margin

    def _adopt(self, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
            raise AuthenticationError(
                "The backend's login answer had no access token; check that the URL points at a "
                "Lume backend."
            )
        self._access_token = data["access_token"]
        refresh = data.get("refresh_token")
        self._refresh_token = refresh if isinstance(refresh, str) else None

    async def _auth_call(self, route: str, body: dict[str, Any]) -> Any:
        if self._client is None:
            raise RuntimeError("LumeAuth.bind() was not called")
        try:
            response = await self._client.post(
                f"{AUTH_PREFIX}{route}", json=body, headers={"X-API-Key": self._api_key}
            )
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if is_certificate_problem(reason):
                raise ConnectionFailedError(certificate_message(reason)) from exc
            where = redact_url(str(self._client.base_url).rstrip("/"))
            detail = str(exc) if 0 < len(str(exc)) <= 80 else type(exc).__name__
            raise ConnectionFailedError(
                f"Could not reach the backend at {where} to {_VERBS.get(route, route)} ({detail}). "
                "Check the URL and that the server is running."
            ) from exc
        try:
            payload: Any = response.json()
        except ValueError:
            payload = response.text
        if response.status_code >= 400:
            info = error_info(payload, response.reason_phrase or "error")
            if response.status_code in (400, 401, 403):
                what = "log in" if route == "login" else "renew the session"
                raise AuthenticationError(
                    f"Could not {what}: {info.message}. Check the API key (LUME_API_KEY), the "
                    "email and the password.",
                    status=response.status_code,
                    code=info.code,
                    details={"reason": info.message},
                )
            if response.status_code == 404 or looks_like_html(payload):
                where = redact_url(str(self._client.base_url).rstrip("/"))
                raise ConnectionFailedError(
                    f"{where} does not look like a Lume backend: the {route} route answered "
                    f"{response.status_code} ({info.message}). Check that the URL is the "
                    "backend's base URL (https://host, without a path)."
                )
            raise ConnectionFailedError(
                f"The backend failed to {_VERBS.get(route, route)} ({response.status_code}: "
                f"{info.message}). Try again shortly."
            )
        return unwrap(payload)
