"""Retry policy of PROTOCOL A3: full-jitter backoff with a stability window, and a classifier.

:class:`Backoff` yields delays ``uniform(0, min(cap, base * factor**n))``; it is reset
only when a link has stayed up for the stability window, so a server that accepts and
then closes cannot cause a hot loop. :func:`classify` turns an HTTP outcome into one
decision: retry after backoff, wait for Retry-After, refresh credentials, or give up.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from lume_widget.core.settings import Settings

__all__ = ["Backoff", "Decision", "Verdict", "classify", "parse_retry_after"]


class Backoff:
    """Full-jitter exponential delays; ``random`` is injectable (returns a float in [0, 1))."""

    def __init__(self, settings: Settings, random: Callable[[], float]) -> None:
        self._settings = settings
        self._random = random
        self.attempts = 0
        self._up_since: float | None = None

    def ceiling(self) -> float:
        """The upper bound of the next delay."""
        s = self._settings
        return min(s.backoff_cap_s, s.backoff_base_s * s.backoff_factor**self.attempts)

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one failed attempt."""
        delay = self._random() * self.ceiling()
        self.attempts += 1
        return delay

    def link_up(self, now: float) -> None:
        """A link opened at ``now``; the backoff is not reset yet."""
        self._up_since = now

    def link_down(self, now: float) -> None:
        """The link closed at ``now``: reset only if it had stayed up long enough."""
        if self._up_since is not None and now - self._up_since >= self._settings.stable_link_s:
            self.attempts = 0
        self._up_since = None

    def tick(self, now: float) -> None:
        """Reset once a link that is still up has been stable for the window."""
        if self._up_since is not None and now - self._up_since >= self._settings.stable_link_s:
            self.attempts = 0

    def reset(self) -> None:
        """Forget every attempt (a new tier, a user action)."""
        self.attempts = 0


class Decision(enum.Enum):
    """What to do after a failed request."""

    RETRY = "retry"  # transient: back off and try again (counts toward demotion)
    WAIT = "wait"  # rate limited: wait Retry-After, no tier change
    REFRESH = "refresh"  # 401: refresh the token once and retry
    GIVE_UP = "give_up"  # a client error that retrying cannot fix


@dataclass(frozen=True, slots=True)
class Verdict:
    """A :class:`Decision` and, for WAIT, how long (already capped)."""

    decision: Decision
    wait_s: float = 0.0


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (delta-seconds form); None when absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds)


def classify(status: int | None, retry_after: str | None, settings: Settings) -> Verdict:
    """Decide about an HTTP outcome; ``status=None`` means no answer (connection error, timeout)."""
    if status is None or status in (408,):
        return Verdict(Decision.RETRY)
    if status == 401:
        return Verdict(Decision.REFRESH)
    wait = parse_retry_after(retry_after)
    if status == 429 or (status == 503 and wait is not None):
        seconds = settings.retry_after_default_s if wait is None else wait
        return Verdict(Decision.WAIT, min(seconds, settings.retry_after_cap_s))
    if status >= 500:
        return Verdict(Decision.RETRY)
    return Verdict(Decision.GIVE_UP)
