"""Every timing and limit of the client in one dataclass (PROTOCOL A3 and A4 defaults).

Tests shrink all timings by one factor with :meth:`Settings.scaled`, so no value is
tuned on its own and slow machines do not flake.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

__all__ = ["Settings", "WsAuth"]

WsAuth = Literal["both", "headers", "query"]
"""Where the live tier puts credentials on the upgrade request (PROTOCOL A2)."""

_TIME_FIELDS = (
    "backoff_base_s",
    "backoff_cap_s",
    "stable_link_s",
    "retry_after_cap_s",
    "ws_ping_interval_s",
    "ws_ping_timeout_s",
    "app_ping_interval_s",
    "app_pong_timeout_s",
    "stream_inactivity_s",
    "turn_deadline_s",
    "probe_interval_s",
    "probe_timeout_s",
    "connect_timeout_s",
    "http_timeout_s",
    "rest_poll_initial_s",
    "rest_poll_max_s",
    "legacy_poll_s",
    "reconcile_retry_s",
    "reconcile_grace_s",
)


@dataclass(frozen=True, slots=True)
class Settings:
    """Timings (seconds) and limits of the client; defaults follow PROTOCOL A3/A4."""

    backoff_base_s: float = 0.5
    backoff_factor: float = 2.0
    backoff_cap_s: float = 30.0
    stable_link_s: float = 10.0
    """A link must stay up this long before the backoff resets (no hot loop)."""
    retry_after_cap_s: float = 60.0
    ws_ping_interval_s: float = 20.0
    ws_ping_timeout_s: float = 20.0
    """The legacy link's keepalive: a protocol ping this often, and no pong within the
    timeout drops it at once (the live link uses the app ping below instead)."""
    app_ping_interval_s: float = 20.0
    """The live link's keepalive: an app ``ping`` this often (PROTOCOL A2)..."""
    app_pong_timeout_s: float = 20.0
    """...and no ``pong`` within this long drops the link at once (a half-open socket is
    found within interval + timeout). The legacy link, which has no app ping, uses the
    protocol ping (``ws_ping_interval_s`` / ``ws_ping_timeout_s``) instead."""
    stream_inactivity_s: float = 30.0
    turn_deadline_s: float = 120.0
    live_connect_attempts: int = 5
    rest_failure_limit: int = 3
    probe_interval_s: float = 30.0
    probe_timeout_s: float = 5.0
    connect_timeout_s: float = 10.0
    http_timeout_s: float = 30.0
    rest_poll_initial_s: float = 1.0
    rest_poll_max_s: float = 3.0
    rest_poll_growth: float = 1.5
    legacy_poll_s: float = 3.0
    reconcile_retry_s: float = 0.25
    """Wait between history reads when a finished stream is not stored yet."""
    reconcile_grace_s: float = 10.0
    """How long a complete reply waits for its stored copy (ids, stored text) before the turn
    completes with the text it has; the stored copy is then read in the background."""
    retry_after_default_s: float = 1.0
    refresh_margin_s: float = 300.0
    """Refresh an access token this long before its JWT ``exp`` (not scaled: a token lifetime)."""
    ws_auth: WsAuth = "both"
    cycle_tiers: bool = True
    """When even the last tier fails during a turn, start again from ``live`` (after a backoff
    that grows with each round) until the turn deadline, instead of failing the turn at once:
    a short outage of the whole backend costs a wait, not the message. Off: the turn fails
    as soon as the last tier has spent its budget."""

    def scaled(self, factor: float) -> Settings:
        """A copy with every timing multiplied by ``factor`` (limits and counts unchanged)."""
        if factor <= 0:
            raise ValueError("the scale factor must be positive")
        changes = {name: getattr(self, name) * factor for name in _TIME_FIELDS}
        changes["retry_after_default_s"] = self.retry_after_default_s * factor
        return dataclasses.replace(self, **changes)
