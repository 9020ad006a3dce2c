"""Adaptive concurrency for evaluation runs: fewer conversations at once under rate limits, more again after.

The limit follows additive increase, multiplicative decrease: a rate limit (429 with
Retry-After) halves it, at most once per Retry-After window so a burst of 429s from the
same moment counts once, and pauses new work until the window is over; each turn that
completes without one adds ``1/limit`` back, up to the ceiling the user asked for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

__all__ = ["AdaptiveLimiter"]

logger = logging.getLogger(__name__)


class AdaptiveLimiter:
    """A semaphore whose size shrinks on rate limits and grows back on success.

    ``clock`` and ``sleep`` are injectable so tests need no real waiting.
    """

    def __init__(
        self,
        ceiling: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_pause_s: float = 60.0,
    ) -> None:
        if ceiling < 1:
            raise ValueError("concurrency must be at least 1")
        self.ceiling = ceiling
        self._limit = float(ceiling)
        self._active = 0
        self._clock = clock
        self._sleep = sleep
        self._max_pause_s = max_pause_s
        self._paused_until = 0.0
        self._condition = asyncio.Condition()
        self.rate_limits = 0
        self.lowest = ceiling

    @property
    def limit(self) -> int:
        """How many may run at once right now."""
        return max(1, int(self._limit))

    @property
    def active(self) -> int:
        return self._active

    @property
    def paused_for(self) -> float:
        """Seconds until new work may start (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    async def wait_unpaused(self) -> None:
        """Return once no Retry-After window is open."""
        while (delay := self.paused_for) > 0:
            await self._sleep(delay)

    async def acquire(self) -> None:
        """Wait for a free slot and for any Retry-After window to close, then take the slot."""
        while True:
            await self.wait_unpaused()
            async with self._condition:
                if self.paused_for > 0:
                    continue
                if self._active < self.limit:
                    self._active += 1
                    return
                await self._condition.wait()

    async def release(self) -> None:
        async with self._condition:
            self._active -= 1
            # One slot came free: wake one waiter, not every conversation still queued.
            self._condition.notify(1)

    def rate_limited(self, retry_after: float | None) -> None:
        """A 429/503 arrived asking to wait ``retry_after`` seconds (1 s when it did not say)."""
        self.rate_limits += 1
        wait = min(max(retry_after if retry_after is not None else 1.0, 0.0), self._max_pause_s)
        now = self._clock()
        if self._paused_until <= now:
            # First rate limit of a new window: halve once.
            self._limit = max(1.0, self._limit / 2)
            self.lowest = min(self.lowest, self.limit)
            logger.info(
                "rate limited: concurrency down to %d, new work paused %.2f s", self.limit, wait
            )
        self._paused_until = max(self._paused_until, now + wait)

    def pause(self, retry_after: float | None) -> None:
        """Hold new work for ``retry_after`` seconds without counting a new rate limit."""
        wait = min(max(retry_after if retry_after is not None else 1.0, 0.0), self._max_pause_s)
        self._paused_until = max(self._paused_until, self._clock() + wait)

    def shrink_to(self, limit: int) -> None:
        """Lower the ceiling for good (the backend refused more active consultations)."""
        self.ceiling = max(1, min(self.ceiling, limit))
        self._limit = min(self._limit, float(self.ceiling))
        self.lowest = min(self.lowest, self.limit)
        logger.info("concurrency ceiling lowered to %d", self.ceiling)

    async def succeeded(self) -> None:
        """A turn completed without a rate limit: grow back by ``1/limit``."""
        if self._limit >= self.ceiling:
            return
        before = self.limit
        self._limit = min(float(self.ceiling), self._limit + 1.0 / self._limit)
        if self.limit != before:
            logger.info("concurrency back up to %d", self.limit)
            async with self._condition:
                self._condition.notify_all()
