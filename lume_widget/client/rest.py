"""The REST side of the backend over httpx: one place that turns HTTP outcomes into data or errors.

:meth:`RestApi.call` never raises for an HTTP status: it returns an :class:`Outcome`
(the session core decides what a failed send or poll means). :meth:`RestApi.request`
is for everything else: it retries transient failures with full-jitter backoff, waits
out Retry-After (capped), and raises the project's exception for anything final.
httpx errors are translated here and nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from lume_widget.client.auth import LumeAuth
from lume_widget.core.backoff import Backoff, Decision, classify, parse_retry_after
from lume_widget.core.errors_map import error_for_status
from lume_widget.core.settings import Settings
from lume_widget.core.wire import ErrorInfo, error_info, redact_url, unwrap
from lume_widget.errors import AuthenticationError, ConnectionFailedError, LumeError
from lume_widget.text import may_hold_surrogate, repair_json

__all__ = ["Outcome", "RestApi"]

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One HTTP exchange: ``status`` None when no answer came (connection error, timeout)."""

    status: int | None
    payload: Any = None
    error: ErrorInfo | None = None
    retry_after: str | None = None
    failure: LumeError | None = None
    """Set when the credentials could not be renewed before or after the request: an
    AuthenticationError (gone for good) or a ConnectionFailedError (the refresh failed for
    now). Either way the request's own outcome is unknown, so the caller decides."""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def data(self) -> Any:
        return unwrap(self.payload)


class RestApi:
    """Calls to one backend with one :class:`LumeAuth`; ``transport`` is an injectable seam."""

    def __init__(
        self,
        base_url: str,
        auth: LumeAuth,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        random_source: Callable[[], float] = random.random,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.settings = settings
        self.auth = auth
        self._sleep = sleep
        self._random = random_source
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            auth=auth,
            transport=transport,
            timeout=httpx.Timeout(settings.http_timeout_s, connect=settings.connect_timeout_s),
            headers={"Accept": "application/json"},
        )
        auth.bind(self._client)

    def __repr__(self) -> str:
        return f"RestApi({redact_url(self.base_url)!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """The absolute URL of ``path`` under the base URL, with ``params`` (None values left out).

        Built once as text, so httpx parses it once: a relative path and separate params are
        each parsed again (merged with the base URL, then with the query) on every request.
        """
        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = f"{self.base_url}/{path.lstrip('/')}"
        return f"{url}?{httpx.QueryParams(query)}" if query else url

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Outcome:
        """One request; HTTP errors come back as an Outcome, transport errors as status None."""
        try:
            response = await self._client.request(
                method,
                self.url(path, params),
                json=json,
                headers=dict(headers) if headers else None,
            )
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            logger.info("%s %s: no answer (%s)", method, path, type(exc).__name__)
            return Outcome(None, error=ErrorInfo(reason))
        except (AuthenticationError, ConnectionFailedError) as exc:
            # raised by LumeAuth's refresh inside the request: an outcome like any other
            logger.info("%s %s: credentials not renewed (%s)", method, path, type(exc).__name__)
            status = exc.status if isinstance(exc, AuthenticationError) else None
            return Outcome(status, error=ErrorInfo(exc.message), failure=exc)
        payload: Any = None
        content = response.content
        if content:
            try:
                payload = response.json()
            except ValueError:
                payload = repair_json(response.text)
            else:
                if may_hold_surrogate(content):  # JSON escapes a lone half as \udXXX
                    payload = repair_json(payload)  # valid Unicode from here on
        logger.debug("%s %s -> %d", method, path, response.status_code)
        if response.status_code >= 400:
            info = error_info(payload, response.reason_phrase or f"HTTP {response.status_code}")
            return Outcome(response.status_code, payload, info, response.headers.get("Retry-After"))
        return Outcome(response.status_code, payload)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        creating: bool = False,
        allow: tuple[int, ...] = (),
        attempts: int = 4,
    ) -> Outcome:
        """A request with the retry policy of PROTOCOL A3; raises for a final failure.

        Statuses in ``allow`` are returned as outcomes instead of raised (e.g. 404 on delete,
        409 on create). ``creating`` makes a 429 the "too many consultations" error, never retried.
        """
        backoff = Backoff(self.settings, self._random)
        tries = 0
        while True:
            tries += 1
            outcome = await self.call(method, path, json=json, params=params, headers=headers)
            if outcome.ok or outcome.status in allow:
                return outcome
            if isinstance(outcome.failure, AuthenticationError):
                raise outcome.failure
            info = outcome.error or ErrorInfo("error")
            verdict = classify(outcome.status, outcome.retry_after, self.settings)
            final = tries >= attempts or verdict.decision in (Decision.GIVE_UP, Decision.REFRESH)
            if creating and outcome.status == 429:
                final = True
            if final:
                raise error_for_status(
                    outcome.status,
                    info.message,
                    code=info.code,
                    details=info.details,
                    retry_after=parse_retry_after(outcome.retry_after),
                    creating=creating,
                )
            wait = verdict.wait_s if verdict.decision is Decision.WAIT else backoff.next_delay()
            logger.info("%s %s failed (%s); retrying in %.2f s", method, path, outcome.status, wait)
            await self._sleep(wait)
