"""The tier policy of a session: when to probe, demote, start over, and where a turn is sent.

A :class:`TierPolicy` is a part of a session (it sees the session through a
:class:`~lume_widget.core.context.SessionContext` and issues requests through its
:class:`~lume_widget.core.requests.TurnRequests`); it decides the tier (PROTOCOL A4: live,
then REST, then legacy; a pin wins), counts the failures that decide it, and moves the turn
in flight onto it, never sending an acknowledged message twice. Pure: no I/O, time comes in
``now``.

What follows a failure is one table, :data:`DEMOTIONS` (as h11's ``_state.py``): a tier that
fails steps down the ladder of :meth:`Tier.below` (live, rest, legacy) when the tier is
automatic; a pinned tier, or the last one, gives up (the turn fails, the status is offline),
unless every tier failed during a turn and ``cycle_tiers`` starts over from live. Which
failures demote: a refused live upgrade (:data:`REFUSED_UPGRADE`), live's attempt budget
spent (:meth:`TierPolicy.budget_spent`), ``rest_failure_limit`` failed requests in a row.
When live is probed again is :func:`probe_due`.
"""

from __future__ import annotations

import enum
import logging

from lume_widget.core.actions import SendLive
from lume_widget.core.context import SessionContext
from lume_widget.core.events import Tier, TierChanged
from lume_widget.core.requests import TurnRequests
from lume_widget.core.turn import Turn, TurnPhase, move
from lume_widget.errors import ConnectionFailedError, LumeError, ServerError

__all__ = ["DEMOTIONS", "REFUSED_UPGRADE", "Demotion", "TierPolicy", "probe_due"]

logger = logging.getLogger("lume_widget.core.session")

P = TurnPhase


class Demotion(enum.Enum):
    """What a failure that demotes the tier leads to."""

    STEP_DOWN = "step down"
    """Switch to the tier below; the turn in flight goes on there, never sent twice."""
    START_OVER = "start over"
    """Every tier failed during a turn: back to live after a growing backoff, the turn kept."""
    GIVE_UP = "give up"
    """The turn in flight fails with what arrived kept; the status is offline."""


DEMOTIONS: dict[tuple[bool, bool, bool], Demotion] = {
    # (a tier below, the tier pinned, a turn in flight that may start over): what follows
    (True, False, True): Demotion.STEP_DOWN,
    (True, False, False): Demotion.STEP_DOWN,
    (True, True, True): Demotion.GIVE_UP,
    (True, True, False): Demotion.GIVE_UP,
    (False, False, True): Demotion.START_OVER,
    (False, False, False): Demotion.GIVE_UP,
    (False, True, True): Demotion.GIVE_UP,
    (False, True, False): Demotion.GIVE_UP,
}
"""What a demotion does, by whether a tier is below, whether the tier is pinned, and whether a
turn is in flight with ``cycle_tiers`` on."""

REFUSED_UPGRADE = frozenset({400, 401, 403, 404})
"""HTTP statuses of a refused live upgrade: live is not tried again, the tier demotes at once."""


def probe_due(
    *,
    tier: Tier,
    pinned: Tier | None,
    live_down: bool,
    last_probe: float | None,
    now: float,
    interval_s: float,
) -> bool:
    """Whether a turn starting at ``now`` first probes live: only off live, when the tier is
    automatic and the live link is down, and ``interval_s`` after the last probe (or live's
    last failure)."""
    if pinned is not None or tier is Tier.LIVE or not live_down:
        return False
    return last_probe is None or now - last_probe >= interval_s


class TierPolicy:
    """Decides and changes the tier of one session; see the module docstring."""

    def __init__(self, ctx: SessionContext, requests: TurnRequests) -> None:
        self._ctx = ctx
        self._requests = requests
        self.live_failures = 0
        """Live failures (to connect, or closes soon after opening) since it last reset."""
        self.live_proven = False
        """Live delivered a reply or stayed up past ``stable_link_s`` in this session."""
        self.last_probe: float | None = None
        """When live was last probed (or last failed), for ``probe_interval_s``."""
        self.rest_failures = 0
        """Consecutive failed requests on the rest or legacy tier."""

    def _connect_live(self, delay: float) -> None:
        self._ctx.act(
            self._ctx.live.connect(delay, self._ctx.settings.connect_timeout_s, probe=False)
        )

    def _connect_legacy(self) -> None:
        self._ctx.act(self._ctx.legacy.connect(0.0))

    def budget_spent(self) -> bool:
        """Whether live has used its attempt budget and gives way to the tier below: during a
        turn, or while idle when live never proved itself (no reply delivered, never stable).
        A live link that worked is retried while idle without limit (backoff capped), so a
        backend that restarts between turns finds the client back on live; the next turn
        goes by REST at once if the budget is spent by then."""
        s = self._ctx
        spent = self.live_failures >= s.settings.live_connect_attempts
        return spent and (s.turn is not None or not self.live_proven)

    def should_probe(self, now: float) -> bool:
        """Whether the turn starting at ``now`` first probes live (:func:`probe_due`)."""
        s = self._ctx
        return probe_due(
            tier=s.tier,
            pinned=s.pinned,
            live_down=s.live.down,
            last_probe=self.last_probe,
            now=now,
            interval_s=s.settings.probe_interval_s,
        )

    def switch(self, tier: Tier, reason: str, now: float, live_delay: float = 0.0) -> None:
        s = self._ctx
        previous = s.tier
        if tier is previous:
            return  # pragma: no cover - every caller checks the tier differs
        s.tier = tier
        s.gave_up = False  # another tier: nothing has given up on it
        self.rest_failures = 0
        logger.info("tier %s -> %s: %s", previous.value, tier.value, reason)
        change = TierChanged(tier, previous, reason, now)
        s.tell(change)
        if s.turn is not None:
            s.turn.tier_changes.append(change)
        if tier is not Tier.LIVE and not s.live.down:
            s.act(s.live.close_action(f"leaving live: {reason}"))
            s.live.close(f"leaving live: {reason}")
        if tier is Tier.LIVE and s.live.down:
            self.live_failures = 0
            s.live.backoff.reset()
            self._connect_live(live_delay)
        if tier is Tier.LEGACY and s.legacy.down:
            self._connect_legacy()
        if tier is not Tier.LEGACY and not s.legacy.down:
            s.act(s.legacy.close_action(f"leaving legacy: {reason}"))
            s.legacy.close(f"leaving legacy: {reason}")
        s.moves.refresh_status(reason, now)

    def rest_succeeded(self) -> None:
        """A request on the rest or legacy tier worked: its failures start again from 0."""
        self.rest_failures = 0

    def rest_failed(self, turn: Turn, reason: str, now: float, *, check_first: bool) -> None:
        """A request of ``turn`` on the rest or legacy tier failed and may be retried: look
        again after a backoff, or demote after ``rest_failure_limit`` failures in a row."""
        s = self._ctx
        self.rest_failures += 1
        logger.info("%s failure %d: %s", s.tier.value, self.rest_failures, reason)
        if self.rest_failures >= s.settings.rest_failure_limit:
            self.rest_failures = 0
            if turn.phase is P.SENDING:
                move(turn, P.CHECKING)
            self.demote(
                f"{s.tier.value} failed {s.settings.rest_failure_limit} times ({reason})", now
            )
            if s.turn is turn and turn.phase is P.CHECKING and not self._requests.pending:
                self._requests.check(turn, 0.0)
            return
        delay = s.live.backoff.ceiling() * min(1.0, 0.5 + 0.5 * self.rest_failures / 3)
        if turn.phase is P.SENDING:
            move(turn, P.CHECKING)
        if check_first or turn.phase is P.CHECKING:
            self._requests.check(turn, delay)
        else:
            self._requests.poll(turn, delay)

    def demote(self, reason: str, now: float) -> None:
        """A failure demotes the tier: step down, start over or give up (:data:`DEMOTIONS`)."""
        s = self._ctx
        below = s.tier.below()
        turn = s.turn
        what = DEMOTIONS[
            (below is not None, s.pinned is not None, turn is not None and s.settings.cycle_tiers)
        ]
        if what is Demotion.START_OVER:
            assert turn is not None
            self.start_over(turn, reason, now)
            return
        if what is Demotion.GIVE_UP:
            # Demoted below legacy, or off a tier pinned mid-turn: only a turn's failures do that.
            s.moves.give_up(reason)  # first, so the turn's end already says offline
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
                s.moves.fail_turn(error, now, reason)
            s.moves.refresh_status(reason, now)
            return
        assert below is not None  # a step down has a tier below (DEMOTIONS)
        self.live_failures = 0
        s.live.backoff.reset()
        if s.tier is Tier.LIVE:
            self.last_probe = now  # live just failed: the next probe waits a full interval
        self.switch(below, reason, now)
        if turn is not None:
            self.carry_over(turn, 0.0, now)

    def carry_over(self, turn: Turn, delay: float, now: float) -> None:
        """Go on with ``turn`` on the tier just switched to (never sending it twice)."""
        if turn.phase in (P.PROBING, P.WAITING_LINK) and turn.sends == 0:
            self.dispatch(turn, now)
        elif turn.acknowledged:
            if turn.phase is not P.RECONCILING:
                move(turn, P.RECOVERING)
                self._requests.poll(turn, delay)
        elif turn.phase is not P.CHECKING:
            move(turn, P.CHECKING)
            self._requests.check(turn, delay)

    def start_over(self, turn: Turn, reason: str, now: float) -> None:
        """Every tier failed during ``turn``: go back to live after a backoff, the turn kept.

        Each round waits longer (full jitter, capped like every backoff); the turn deadline
        ends the rounds with a TurnTimeoutError that keeps what arrived.
        """
        s = self._ctx
        turn.rounds += 1
        cfg = s.settings
        ceiling = min(
            cfg.backoff_cap_s, cfg.backoff_base_s * cfg.backoff_factor ** (turn.rounds + 1)
        )
        delay = s.random() * ceiling
        logger.warning(
            "every tier failed (%s); starting again from live in %.2f s (round %d)",
            reason,
            delay,
            turn.rounds + 1,
        )
        self.live_failures = 0
        s.live.backoff.reset()
        self.switch(
            Tier.LIVE, f"every tier failed ({reason}); trying live again", now, live_delay=delay
        )
        self.carry_over(turn, delay, now)

    def dispatch(self, turn: Turn, now: float) -> None:
        """Send the turn on the current tier, or queue it until that tier can."""
        s = self._ctx
        if s.tier is Tier.LIVE:
            if s.live.up:
                move(turn, P.SENT)
                turn.sends += 1
                turn.sent_at = turn.sent_at if turn.sent_at is not None else now
                turn.last_activity = now
                s.act(SendLive(s.live.generation, turn.id, turn.text))
                return
            move(turn, P.WAITING_LINK)
            if s.live.down:
                self.live_failures = 0
                s.live.backoff.reset()
                self._connect_live(0.0)
            elif self.live_failures >= s.settings.live_connect_attempts and s.pinned is None:
                # live kept failing while idle (it only retried): this turn goes by REST now
                self.demote(f"live failed {self.live_failures} times before this turn", now)
            return
        if s.tier is Tier.LEGACY and s.legacy.down:
            self._connect_legacy()  # stopped when the credentials failed: try it again
        turn.sent_at = turn.sent_at if turn.sent_at is not None else now
        self._requests.send_rest(turn, 0.0, count=True)
