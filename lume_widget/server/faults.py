"""Fault injection: the server's current faults, the HTTP fault middleware and the admin API.

Faults are switched from the command line (``serve --ws-close-after-chunks 3``) or at run
time through ``GET/PUT/DELETE /admin/faults``, which answers only to loopback clients that
present the admin token in ``X-Admin-Token``. Rates are applied deterministically with an
accumulator, so ``http_error_rate: 0.5`` fails exactly every second request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import threading
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from lume_widget.server.auth import constant_time_equal
from lume_widget.server.config import FaultError, Faults
from lume_widget.server.wire import ApiProblem, error_body

logger = logging.getLogger(__name__)


class FaultState:
    """The active faults of one server; safe to change from any thread."""

    def __init__(self, initial: Faults | None = None) -> None:
        self._lock = threading.Lock()
        self._faults = initial or Faults()
        self._error_acc = 0.0
        self._limit_acc = 0.0

    @property
    def current(self) -> Faults:
        return self._faults

    def update(self, changes: dict[str, Any]) -> Faults:
        """Merge ``changes`` into the active faults; raises FaultError on a bad key or value."""
        with self._lock:
            self._faults = self._faults.merged(changes)
            self._error_acc = self._limit_acc = 0.0
            faults = self._faults
        logger.info("faults now: %s", faults.active() or "none")
        return faults

    def reset(self) -> Faults:
        with self._lock:
            self._faults = Faults()
            self._error_acc = self._limit_acc = 0.0
        logger.info("faults cleared")
        return self._faults

    def _tick(self, attr: str, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            value = getattr(self, attr) + rate
            fire = value >= 1.0 - 1e-9
            setattr(self, attr, value - 1.0 if fire else value)
        return bool(fire)

    def should_fail(self) -> bool:
        return self._tick("_error_acc", self._faults.http_error_rate)

    def should_rate_limit(self) -> bool:
        return self._tick("_limit_acc", self._faults.rate_limit_rate)


class HttpFaultMiddleware:
    """Adds latency, 5xx answers and 429s to REST calls under /api/v1 (not WebSockets)."""

    def __init__(self, app: ASGIApp, faults: FaultState, profile: str) -> None:
        self.app = app
        self.faults = faults
        self.profile = profile

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/api/"):
            await self.app(scope, receive, send)
            return
        faults = self.faults.current
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        problem: ApiProblem | None = None
        if self.faults.should_fail():
            problem = ApiProblem(
                faults.http_error_status,
                "simulated server error (fault injection): retry later",
                code="INJECTED_FAULT",
            )
        elif self.faults.should_rate_limit():
            wait = faults.rate_limit_retry_after_s
            problem = ApiProblem(
                429,
                f"too many requests (fault injection): retry after {wait} s",
                code="RATE_LIMITED",
                headers={"Retry-After": str(wait)},
            )
        if problem is None:
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            error_body(problem, self.profile, scope.get("path", "")),
            status_code=problem.status,
            headers=problem.headers,
        )
        await response(scope, receive, send)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class AdminApi:
    """``/admin/faults``: read, merge and clear faults at run time."""

    def __init__(self, faults: FaultState, admin_token: str) -> None:
        self.faults = faults
        self._token = admin_token

    def __repr__(self) -> str:
        return "AdminApi(<token redacted>)"

    def _check(self, request: Request) -> JSONResponse | None:
        client_host = request.client.host if request.client else None
        if not is_loopback(client_host):
            return _admin_error(403, "the admin API only answers to loopback clients")
        presented = request.headers.get("x-admin-token", "")
        if not presented or not constant_time_equal(presented, self._token):
            return _admin_error(
                401,
                "missing or wrong X-Admin-Token: use the admin token the server printed "
                "at start (or set LUME_ADMIN_TOKEN)",
            )
        return None

    async def endpoint(self, request: Request) -> JSONResponse:
        refused = self._check(request)
        if refused is not None:
            return refused
        if request.method == "GET":
            return JSONResponse({"data": self.faults.current.to_dict()})
        if request.method == "DELETE":
            return JSONResponse({"data": self.faults.reset().to_dict()})
        raw = await request.body()
        try:
            changes = json.loads(raw or b"{}")
        except (ValueError, RecursionError):
            return _admin_error(400, "the body must be a JSON object of fault settings")
        if not isinstance(changes, dict):
            return _admin_error(400, "the body must be a JSON object of fault settings")
        try:
            faults = self.faults.update(changes)
        except FaultError as exc:
            return _admin_error(400, str(exc))
        return JSONResponse({"data": faults.to_dict()})


def _admin_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message}}, status_code=status)
