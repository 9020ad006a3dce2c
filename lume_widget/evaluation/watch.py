"""An httpx transport that tells the runner about every 429 (and 503 with Retry-After) it carries.

The client absorbs most rate limits itself (it waits Retry-After and retries, PROTOCOL
A3), so the runner would never hear of them; wrapping the client's transport lets the
run narrow its concurrency as soon as the backend pushes back, not only once the client
has given up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx

from lume_widget.core.backoff import parse_retry_after

__all__ = ["RateLimitWatch"]

logger = logging.getLogger(__name__)


class RateLimitWatch(httpx.AsyncBaseTransport):
    """Forwards every request to ``inner`` and reports rate-limit answers to ``listener``."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.listener: Callable[[float | None], None] | None = None
        self.seen = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 429 or (status == 503 and retry_after is not None):
            self.seen += 1
            if self.listener is not None:
                try:
                    self.listener(retry_after)
                except Exception:  # the watch must never break a request
                    logger.exception("the rate-limit listener failed")
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
