"""What the live link's life means for the session: opening, failing, dropping, keepalive.

A :class:`LiveWatch` is a part of a session (it sees the session through a
:class:`~lume_widget.core.context.SessionContext`). The session hands it the inputs about the
live socket that are not stale: it opened, it failed to open, it was lost (closed, stalled,
no pong). The watch turns each into what follows: the turn in flight sent, recovered from
history or checked for; a reconnect after a backoff; a demotion when live has used its
budget (the :class:`~lume_widget.core.tiers.TierPolicy` decides). It also runs the one
keepalive: an app ping every ``app_ping_interval_s``, the link dropped when its pong is
``app_pong_timeout_s`` late, and a link up for ``stable_link_s`` counted as proven. Pure: no
I/O, time comes in ``now``.
"""

from __future__ import annotations

import logging

from lume_widget.core.actions import SendPing
from lume_widget.core.context import SessionContext
from lume_widget.core.events import Tier
from lume_widget.core.requests import TurnRequests
from lume_widget.core.tiers import REFUSED_UPGRADE, TierPolicy
from lume_widget.core.turn import WAITING_FOR_CONTENT, TurnPhase, move
from lume_widget.errors import ConnectionFailedError

__all__ = ["LiveWatch"]

logger = logging.getLogger("lume_widget.core.session")

P = TurnPhase


class LiveWatch:
    """The live link over time, and its keepalive; see the module docstring."""

    def __init__(self, ctx: SessionContext, requests: TurnRequests, tiers: TierPolicy) -> None:
        self._ctx = ctx
        self._requests = requests
        self._tiers = tiers
        self.ever_up = False
        """The live link was open at least once in this session."""
        self.ever_failed = False
        """Opening the live link failed at least once in this session (a probe too)."""
        self._up_since: float | None = None
        self._last_ping = 0.0
        self._pong_due: float | None = None
        """When the live link must have answered the last app ping (the one keepalive)."""

    def connect(self, delay: float, timeout: float, *, probe: bool = False) -> None:
        """Open a new live socket after ``delay``."""
        self._ctx.act(self._ctx.live.connect(delay, timeout, probe=probe))

    def _reconnect(self) -> None:
        live = self._ctx.live
        self.connect(live.backoff.next_delay(), self._ctx.settings.connect_timeout_s)

    def deadlines(self) -> list[float]:
        """When the keepalive needs a tick: the next ping, the pong due, the link proven."""
        s = self._ctx
        if not s.live.up:
            return []
        times = [self._last_ping + s.settings.app_ping_interval_s]
        if self._pong_due is not None:
            times.append(self._pong_due)
        if self._up_since is not None and self._tiers.live_failures:
            times.append(self._up_since + s.settings.stable_link_s)
        return times

    def opened(self, generation: int, now: float) -> None:
        """The live socket being opened is open (after the handshake)."""
        s = self._ctx
        probe = s.live.probing
        s.live.probing = False
        s.live.opened(now)
        self._up_since = now
        self._last_ping = now
        self._pong_due = None
        turn = s.turn
        if self.ever_up and turn is not None and not probe:
            turn.reconnects += 1
        self.ever_up = True
        logger.info("live link open (generation %d)", generation)
        if probe and s.tier is not Tier.LIVE:
            if s.pinned is None:
                self._tiers.switch(Tier.LIVE, "live is reachable again", now)
            else:  # pinned while the probe was on its way: the probed link is not wanted
                why = f"tier {s.pinned.value} pinned"
                s.act(s.live.close_action(why))
                s.live.close(why)
                self._up_since = None
                s.live.backoff.link_down(now)
        if probe:
            if turn is not None and turn.phase is P.PROBING:
                self._tiers.dispatch(turn, now)
        elif turn is not None and turn.phase is P.WAITING_LINK:
            self._tiers.dispatch(turn, now)
        s.moves.refresh_status("live link open", now)

    def connect_failed(self, status: int | None, reason: str, now: float) -> None:
        """Opening the live socket failed; ``status`` is the refused upgrade's HTTP status."""
        s = self._ctx
        tiers = self._tiers
        s.live.failed(reason)
        self.ever_failed = True
        logger.info("live connect failed: %s", reason)
        if s.live.probing:
            s.live.probing = False
            turn = s.turn
            if turn is not None and turn.phase is P.PROBING:
                tiers.dispatch(turn, now)
            return
        tiers.live_failures += 1
        refused = status in REFUSED_UPGRADE
        exhausted = tiers.budget_spent()
        if refused or exhausted:
            why = (
                f"live upgrade refused ({status})"
                if refused
                else f"live failed to connect {tiers.live_failures} times ({reason})"
            )
            if s.pinned is Tier.LIVE:
                tiers.live_failures = 0
                s.live.backoff.reset()
                if s.turn is not None:
                    s.moves.fail_turn(
                        ConnectionFailedError(
                            f"The live tier is pinned and unavailable: {why}. Unpin the tier "
                            "(pin_tier(None)) to let the client fall back to REST.",
                            unsent_text=s.turn.unsent_text,
                        ),
                        now,
                        why,
                    )
                s.moves.refresh_status(why, now)
                return
            tiers.demote(why, now)
            return
        self._reconnect()
        s.moves.refresh_status(f"live connect failed ({reason}); retrying", now)

    def lost(self, reason: str, now: float) -> None:
        """The open live link is gone (dropped, stalled, no pong): recover the turn in
        flight from history, then reconnect, or demote when live has used its budget."""
        s = self._ctx
        tiers = self._tiers
        was_short = self._up_since is not None and now - self._up_since < s.settings.stable_link_s
        s.live.failed(reason)
        self._up_since = None
        s.live.backoff.link_down(now)
        logger.info("live link lost: %s", reason)
        if was_short:
            tiers.live_failures += 1
        turn = s.turn
        if turn is not None and turn.phase in WAITING_FOR_CONTENT:
            if turn.acknowledged:
                move(turn, P.RECOVERING)
                self._requests.poll(turn, 0.0)
            else:
                move(turn, P.CHECKING)
                self._requests.check(turn, 0.0)
        if s.tier is Tier.LIVE:
            if tiers.budget_spent() and s.pinned is None:
                tiers.demote(f"live closed {tiers.live_failures} times soon after opening", now)
                return
            self._reconnect()
        else:  # pragma: no cover - live is up only on the live tier (an unwanted probe is closed)
            s.live.close("live is not the tier")
        s.moves.refresh_status(f"live link lost: {reason}", now)

    def reopen(self, reason: str) -> None:
        """Give up the open socket for a fresh one at once (a reply on it was abandoned)."""
        s = self._ctx
        s.act(s.live.close_action(f"reply abandoned: {reason}"))
        self._up_since = None
        self.connect(0.0, s.settings.connect_timeout_s)

    def pong(self) -> None:
        """The live link answered the keepalive."""
        self._pong_due = None

    def tick(self, now: float) -> None:
        """Time passed: drop a link whose pong is late, ping, count a stable link proven."""
        s = self._ctx
        if s.live.up and self._pong_due is not None and now >= self._pong_due:
            # half-open (the peer gone without a FIN or RST): drop the link at once, no
            # closing handshake waited for, within ping interval + pong timeout
            reason = f"no pong within {s.settings.app_pong_timeout_s:g} s"
            logger.info("live link: %s", reason)
            s.act(s.live.close_action(reason, abrupt=True))
            self.lost(reason, now)
        if s.live.up:
            if now >= self._last_ping + s.settings.app_ping_interval_s:
                self._last_ping = now
                if self._pong_due is None:
                    self._pong_due = now + s.settings.app_pong_timeout_s
                s.act(SendPing(s.live.generation))
            if self._up_since is not None and now - self._up_since >= s.settings.stable_link_s:
                self._tiers.live_failures = 0
                self._tiers.live_proven = True
                s.live.backoff.tick(now)
