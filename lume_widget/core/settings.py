"""Every timing and limit of the client in one dataclass (PROTOCOL A3 and A4 defaults).

Tests shrink all timings by one factor with :meth:`Settings.scaled`, so no value is
tuned on its own and slow machines do not flake.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from lume_widget.core.polling import (
    LEGACY_POLL_SCHEDULE,
    REST_POLL_SCHEDULE,
    PollSchedule,
    check_schedule,
)

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
    rest_poll_schedule: PollSchedule = REST_POLL_SCHEDULE
    """When the rest tier reads the history for a reply: bands ``(until_s, gap_s)`` of time
    since the send (see :mod:`lume_widget.core.polling`): every 0.1 s for 0.5 s, every
    0.25 s up to 3 s, then 1 s, 2 s and from 30 s on 3 s."""
    legacy_poll_schedule: PollSchedule = LEGACY_POLL_SCHEDULE
    """The same for the legacy channel while its socket is down: every 1 s up to 3 s, then
    every 3 s."""
    reconcile_retry_s: float = 0.25
    """Wait between history reads when a finished stream is not stored yet."""
    reconcile_grace_s: float = 10.0
    """How long a complete reply waits for its stored copy (ids, stored text) before the turn
    completes with the text it has; the stored copy is then read in the background."""
    await_stored_reply: bool = True
    """Whether a reply streamed to its ``stream_complete`` waits for its stored copy (a history
    read: the server's id and text, PROTOCOL A1) before its turn completes. Off, the turn
    completes at once with the streamed text and an empty ``message_id``, and the stored copy
    is matched to it on the next history read (any read: a later turn's, :meth:`history`, or a
    catch-up read once many replies wait), so a run that needs no ids makes no read per turn."""
    retry_after_default_s: float = 1.0
    refresh_margin_s: float = 300.0
    """Refresh an access token this long before its JWT ``exp`` (not scaled: a token lifetime)."""
    ws_auth: WsAuth = "both"
    cycle_tiers: bool = True
    """When even the last tier fails during a turn, start again from ``live`` (after a backoff
    that grows with each round) until the turn deadline, instead of failing the turn at once:
    a short outage of the whole backend costs a wait, not the message. Off: the turn fails
    as soon as the last tier has spent its budget."""

    def __post_init__(self) -> None:
        for name in ("rest_poll_schedule", "legacy_poll_schedule"):
            object.__setattr__(self, name, check_schedule(getattr(self, name)))

    def scaled(self, factor: float) -> Settings:
        """A copy with every timing multiplied by ``factor`` (limits and counts unchanged)."""
        if factor <= 0:
            raise ValueError("the scale factor must be positive")
        changes: dict[str, Any] = {name: getattr(self, name) * factor for name in _TIME_FIELDS}
        changes["retry_after_default_s"] = self.retry_after_default_s * factor
        for name in ("rest_poll_schedule", "legacy_poll_schedule"):
            bands = getattr(self, name)
            changes[name] = tuple((until * factor, gap * factor) for until, gap in bands)
        return dataclasses.replace(self, **changes)
