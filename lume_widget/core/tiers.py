"""The tier policy of a session: when to probe, demote, start over, and where a turn is sent.

A :class:`TierPolicy` is a part the :class:`lume_widget.core.session.Session` holds; it
decides the tier (PROTOCOL A4: live, then REST, then legacy; a pin wins) and moves the turn
in flight onto it, never sending an acknowledged message twice. Pure: no I/O, time comes in
``now``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lume_widget.core.actions import SendLive
from lume_widget.core.events import ConnectionStatus, Tier, TierChanged
from lume_widget.core.turn import Turn, TurnPhase
from lume_widget.errors import ConnectionFailedError, LumeError, ServerError

if TYPE_CHECKING:
    from lume_widget.core.session import Session

__all__ = ["TierPolicy"]

logger = logging.getLogger("lume_widget.core.session")

P = TurnPhase
S = ConnectionStatus


class TierPolicy:
    """Decides and changes the tier of one session; see the module docstring."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def budget_spent(self) -> bool:
        """Whether live has used its attempt budget and gives way to the tier below: during a
        turn, or while idle when live never proved itself (no reply delivered, never stable).
        A live link that worked is retried while idle without limit (backoff capped), so a
        backend that restarts between turns finds the client back on live; the next turn
        goes by REST at once if the budget is spent by then."""
        s = self._session
        spent = s._live_failures >= s.settings.live_connect_attempts
        return spent and (s._turn is not None or not s._live_proven)

    def should_probe(self, now: float) -> bool:
        s = self._session
        if s.pinned is not None or s.tier is Tier.LIVE or not s.live.down:
            return False
        return s._last_probe is None or now - s._last_probe >= s.settings.probe_interval_s

    def switch(self, tier: Tier, reason: str, now: float, live_delay: float = 0.0) -> None:
        s = self._session
        previous = s.tier
        if tier is previous:
            return  # pragma: no cover - every caller checks the tier differs
        s.tier = tier
        s._rest_failures = 0
        logger.info("tier %s -> %s: %s", previous.value, tier.value, reason)
        change = TierChanged(tier, previous, reason, now)
        s._events.append(change)
        if s._turn is not None:
            s._turn.tier_changes.append(change)
        if tier is not Tier.LIVE and not s.live.down:
            s._actions.append(s.live.close_action(f"leaving live: {reason}"))
            s.live.close(f"leaving live: {reason}")
        if tier is Tier.LIVE and s.live.down:
            s._live_failures = 0
            s.live.backoff.reset()
            s._connect_live(live_delay, s.settings.connect_timeout_s, False, now)
        if tier is Tier.LEGACY and s.legacy.down:
            s._connect_legacy(0.0)
        if tier is not Tier.LEGACY and not s.legacy.down:
            s._actions.append(s.legacy.close_action(f"leaving legacy: {reason}"))
            s.legacy.close(f"leaving legacy: {reason}")
        s._refresh_status(reason, now)

    def demote(self, reason: str, now: float) -> None:
        s = self._session
        below = s.tier.below()
        turn = s._turn
        if below is None and s.pinned is None and turn is not None and s.settings.cycle_tiers:
            self.start_over(turn, reason, now)
            return
        if below is None or s.pinned is not None:
            # Demoted below legacy, or off a tier pinned mid-turn: only a turn's failures do that.
            if turn is not None:  # pragma: no branch
                error: LumeError
                if turn.last_status is not None and turn.last_status >= 500:
                    error = ServerError(
                        f"The backend kept failing ({turn.last_status}: {turn.last_problem}). "
                        "Try again shortly; if it persists the server may be down.",
                        status=turn.last_status,
                        **turn.kept(),
                    )
                else:
                    error = ConnectionFailedError(
                        f"The backend could not be reached ({reason}). Check the URL and your "
                        "network, then send again.",
                        **turn.kept(),
                    )
                s._fail_turn(error, now, reason)
            s._set_status(S.OFFLINE, reason, now)
            return
        s._live_failures = 0
        s.live.backoff.reset()
        if s.tier is Tier.LIVE:
            s._last_probe = now  # live just failed: the next probe waits a full interval
        self.switch(below, reason, now)
        if turn is not None:
            self.carry_over(turn, 0.0, now)

    def carry_over(self, turn: Turn, delay: float, now: float) -> None:
        """Go on with ``turn`` on the tier just switched to (never sending it twice)."""
        s = self._session
        if turn.phase in (P.PROBING, P.WAITING_LINK) and turn.sends == 0:
            self.dispatch(turn, now)
        elif turn.acknowledged:
            if turn.phase is not P.RECONCILING:
                s._move(turn, P.RECOVERING)
                s.delivery.poll(turn, delay)
        elif turn.phase is not P.CHECKING:
            s._move(turn, P.CHECKING)
            s.delivery.check(turn, delay)

    def start_over(self, turn: Turn, reason: str, now: float) -> None:
        """Every tier failed during ``turn``: go back to live after a backoff, the turn kept.

        Each round waits longer (full jitter, capped like every backoff); the turn deadline
        ends the rounds with a TurnTimeoutError that keeps what arrived.
        """
        s = self._session
        turn.rounds += 1
        cfg = s.settings
        ceiling = min(
            cfg.backoff_cap_s, cfg.backoff_base_s * cfg.backoff_factor ** (turn.rounds + 1)
        )
        delay = s._random() * ceiling
        logger.warning(
            "every tier failed (%s); starting again from live in %.2f s (round %d)",
            reason,
            delay,
            turn.rounds + 1,
        )
        s._live_failures = 0
        s.live.backoff.reset()
        self.switch(
            Tier.LIVE, f"every tier failed ({reason}); trying live again", now, live_delay=delay
        )
        self.carry_over(turn, delay, now)

    def dispatch(self, turn: Turn, now: float) -> None:
        """Send the turn on the current tier, or queue it until that tier can."""
        s = self._session
        if s.tier is Tier.LIVE:
            if s.live.up:
                s._move(turn, P.SENT)
                turn.sends += 1
                turn.sent_at = turn.sent_at if turn.sent_at is not None else now
                turn.last_activity = now
                s._actions.append(SendLive(s.live.generation, turn.id, turn.text))
                return
            s._move(turn, P.WAITING_LINK)
            if s.live.down:
                s._live_failures = 0
                s.live.backoff.reset()
                s._connect_live(0.0, s.settings.connect_timeout_s, False, now)
            elif s._live_failures >= s.settings.live_connect_attempts and s.pinned is None:
                # live kept failing while idle (it only retried): this turn goes by REST now
                self.demote(f"live failed {s._live_failures} times before this turn", now)
            return
        if s.tier is Tier.LEGACY and s.legacy.down:
            s._connect_legacy(0.0)  # stopped when the credentials failed: try it again
        turn.sent_at = turn.sent_at if turn.sent_at is not None else now
        s.delivery.send_rest(turn, 0.0, count=True)
