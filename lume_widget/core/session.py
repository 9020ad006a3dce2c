"""The consultation session: a sans-I/O state machine deciding tiers, retries, deadlines and turns.

Theory of operation
-------------------
A driver creates a :class:`Session`, calls :meth:`Session.start`, then feeds it what
happens (``live_opened``, ``message_received(frame, now)``, ``send_failed``,
``history_received``, ``tick(now)`` ...) and after every call drains
:meth:`Session.actions_to_perform` (I/O to do: connect, send, fetch history after a
delay) and :meth:`Session.events_received` (facts to report). The session never reads a
clock: every input carries ``now``, and :meth:`Session.next_deadline` says when to call
:meth:`Session.tick` if nothing else happens.

A turn (one user message and its reply) is delivered by one tier at a time (PROTOCOL
A4). Live streams chunks; ``stream_complete`` (or a whole ``message`` frame) leads to a
history read that adopts the server's ids and content. Rest and legacy send with POST
and poll the history for the first assistant message after the server's copy of the
user message. A link that drops mid-stream, a stall past the inactivity deadline or a
demotion never resends an acknowledged message: the reply is recovered from history.
An unacknowledged one is looked for in history first, then sent once more.

Connection status, tier and turn phase are enums; their legal moves are the tables
below, and an illegal move raises :class:`IllegalTransition` leaving state unchanged.
Every change is logged.
"""

from __future__ import annotations

import enum
import itertools
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from lume_widget.core.actions import (
    Action,
    CloseLegacy,
    CloseLive,
    ConnectLegacy,
    ConnectLive,
    SendLive,
    SendPing,
)
from lume_widget.core.backoff import Backoff
from lume_widget.core.delivery import TurnDelivery, has_text
from lume_widget.core.events import (
    ConnectionStatus,
    Event,
    StatusChanged,
    Tier,
    TierChanged,
    TurnFailed,
)
from lume_widget.core.models import Message
from lume_widget.core.settings import Settings
from lume_widget.core.transcript import Transcript
from lume_widget.core.turn import (
    PHASE_MOVES,
    WAITING_FOR_CONTENT,
    IllegalTransition,
    Turn,
    TurnPhase,
)
from lume_widget.core.wire import validate_message
from lume_widget.errors import (
    AuthenticationError,
    ConnectionFailedError,
    LumeError,
    ServerError,
    TurnCancelledError,
    TurnTimeoutError,
)

__all__ = ["IllegalTransition", "LinkState", "Session", "TurnPhase"]

logger = logging.getLogger(__name__)

S = ConnectionStatus
P = TurnPhase


class LinkState(enum.Enum):
    """State of one WebSocket link (live or legacy)."""

    DOWN = "down"
    CONNECTING = "connecting"
    UP = "up"


_STATUS_MOVES: dict[ConnectionStatus, frozenset[ConnectionStatus]] = {
    status: frozenset(ConnectionStatus) - {status} for status in ConnectionStatus
}
"""Legal status moves: any status may follow another (the status is derived from the tier,
the links and the turn); the one rule is that a closed session moves to OFFLINE and stays."""


class Session(TurnDelivery):
    """The state machine of one consultation; see the module docstring."""

    def __init__(
        self,
        consultation_id: str,
        settings: Settings | None = None,
        *,
        pinned: Tier | None = None,
        history: Sequence[Message] = (),
        random: Callable[[], float] | None = None,
    ) -> None:
        self.consultation_id = consultation_id
        self.settings = settings or Settings()
        rnd = random if random is not None else _default_random()
        self._random = rnd
        self._backoff = Backoff(self.settings, rnd)
        self._legacy_backoff = Backoff(self.settings, rnd)
        self.pinned = pinned
        self.tier: Tier = pinned or Tier.LIVE
        self.status: ConnectionStatus = S.CONNECTING
        self.transcript = Transcript(history)
        self.live = LinkState.DOWN
        self.legacy = LinkState.DOWN
        self.frames_skipped = 0
        self.frames_dropped = 0
        """Frames of another consultation, or late ones of a finished reply (logged at debug)."""
        self.closed = False
        self._closing = False
        self._fatal: str | None = None
        self._live_generation = 0
        self._legacy_generation = 0
        self._probing = False
        self._live_failures = 0
        self._live_ever_up = False
        self._live_proven = False
        """Live delivered a reply or stayed up past ``stable_link_s`` in this session."""
        self._live_up_since: float | None = None
        self._last_ping = 0.0
        self._pong_due: float | None = None
        """When the live link must have answered the last app ping (the one keepalive)."""
        self._last_probe: float | None = None
        self._rest_failures = 0
        self._request_ids = itertools.count(1)
        self._pending_requests: set[int] = set()
        self._background_reads: dict[int, int] = {}
        self._turn_ids = itertools.count(1)
        self._turn: Turn | None = None
        self._actions: list[Action] = []
        self._events: list[Event] = []
        self._started = False

    # ----------------------------------------------------------------- outputs

    def actions_to_perform(self) -> list[Action]:
        """I/O the driver must perform now, in order; the list is emptied."""
        actions, self._actions = self._actions, []
        return actions

    def events_received(self) -> list[Event]:
        """Facts to report, in order; the list is emptied."""
        events, self._events = self._events, []
        return events

    @property
    def turn_in_flight(self) -> bool:
        return self._turn is not None

    @property
    def current_turn_id(self) -> str | None:
        return None if self._turn is None else self._turn.id

    @property
    def turn_phase(self) -> TurnPhase | None:
        return None if self._turn is None else self._turn.phase

    @property
    def live_generation(self) -> int:
        return self._live_generation

    @property
    def legacy_generation(self) -> int:
        return self._legacy_generation

    def next_deadline(self) -> float | None:
        """The time at which :meth:`tick` must be called if no other input arrives."""
        times: list[float] = []
        turn = self._turn
        if turn is not None:
            times.append(turn.began_at + self.settings.turn_deadline_s)
            if self._watching_inactivity(turn):
                times.append(turn.last_activity + self.settings.stream_inactivity_s)
            if turn.phase is P.RECONCILING and turn.reconcile_since is not None and has_text(turn):
                times.append(turn.reconcile_since + self.settings.reconcile_grace_s)
        if self.live is LinkState.UP:
            times.append(self._last_ping + self.settings.app_ping_interval_s)
            if self._pong_due is not None:
                times.append(self._pong_due)
            if self._live_up_since is not None and self._live_failures:
                times.append(self._live_up_since + self.settings.stable_link_s)
        return min(times) if times else None

    # ------------------------------------------------------------------ inputs

    def start(self, now: float) -> None:
        """Begin: open the link of the starting tier."""
        if self._started:
            raise IllegalTransition("the session has already started")
        self._started = True
        if self.closed:
            return  # closed before it started (the user gave up while it opened): stay offline
        logger.info("session %s starts on tier %s", self.consultation_id, self.tier.value)
        self._events.append(StatusChanged(self.status, None, "opening the consultation", now))
        if self.tier is Tier.LIVE:
            self._connect_live(0.0, self.settings.connect_timeout_s, probe=False, now=now)
        else:
            if self.tier is Tier.LEGACY:
                self._connect_legacy(0.0)
            self._refresh_status(f"tier {self.tier.value} pinned", now)

    def begin_turn(self, text: str, now: float, wall: datetime | None = None) -> str:
        """Start a turn with the user's message; returns its id. Raises if one is in flight."""
        self._require_open()
        trimmed = validate_message(text)
        if self._turn is not None:
            raise IllegalTransition(
                "a reply is still in flight; wait for it (or stop it) before sending again"
            )
        turn = Turn(
            id=f"turn-{next(self._turn_ids)}",
            text=trimmed,
            began_at=now,
            wall_start=wall,
            baseline=len(self.transcript),
            last_activity=now,
        )
        self._turn = turn
        self._fatal = None
        logger.info("turn %s begins on tier %s", turn.id, self.tier.value)
        if self._should_probe(now):
            self._last_probe = now
            self._move(turn, P.PROBING)
            self._connect_live(0.0, self.settings.probe_timeout_s, probe=True, now=now)
        else:
            self._dispatch(turn, now)
        self._refresh_status("a reply is in flight", now)
        return turn.id

    def cancel_turn(self, now: float) -> None:
        """The user stopped the reply: end the turn with TurnCancelledError."""
        turn = self._turn
        if turn is None:
            raise IllegalTransition("no reply is in flight")
        error = TurnCancelledError(
            "The reply was stopped; what had arrived is kept.",
            **turn.kept(),
        )
        self._fail_turn(error, now, "stopped by the user")

    def pin(self, tier: Tier | None, now: float) -> None:
        """Pin a tier (None: automatic). Takes effect at once when idle, else after the turn."""
        self._require_open()
        self.pinned = tier
        logger.info("tier pinned to %s", "automatic" if tier is None else tier.value)
        if tier is None:
            self._last_probe = None
            return
        if self._turn is None and tier is not self.tier:
            self._switch_tier(tier, "pinned by the user", now)

    def simulate_live_drop(self, now: float) -> None:
        """Drop the live socket abruptly, as a network failure would."""
        self._require_open()
        if self.live is not LinkState.UP:
            raise IllegalTransition("the live socket is not open, so there is nothing to drop")
        self._actions.append(CloseLive(self._live_generation, "simulated drop", abrupt=True))
        self._live_lost("simulated drop", now)

    def close(self, now: float) -> None:
        """The user closed the consultation: everything stops."""
        if self.closed:
            return
        self._closing = True
        turn = self._turn
        if turn is not None:
            self._fail_turn(
                TurnCancelledError(
                    "The consultation was closed while a reply was in flight.",
                    **turn.kept(),
                ),
                now,
                "closed",
            )
        self.closed = True
        if self.live is not LinkState.DOWN:
            self._actions.append(CloseLive(self._live_generation, "closed by the user"))
        if self.legacy is not LinkState.DOWN:
            self._actions.append(CloseLegacy(self._legacy_generation, "closed by the user"))
        self.live = self.legacy = LinkState.DOWN
        self._live_generation += 1
        self._legacy_generation += 1
        self._set_status(S.OFFLINE, "closed by the user", now)

    # live link ----------------------------------------------------------------

    def live_opened(self, generation: int, now: float) -> None:
        """The live WebSocket of ``generation`` is open (after the handshake)."""
        if self._stale_live(generation) or self.live is not LinkState.CONNECTING:
            return
        probe = self._probing
        self._probing = False
        self.live = LinkState.UP
        self._live_up_since = now
        self._last_ping = now
        self._pong_due = None
        self._backoff.link_up(now)
        turn = self._turn
        if self._live_ever_up and turn is not None and not probe:
            turn.reconnects += 1
        self._live_ever_up = True
        logger.info("live link open (generation %d)", generation)
        if probe and self.tier is not Tier.LIVE:
            if self.pinned is None:
                self._switch_tier(Tier.LIVE, "live is reachable again", now)
            else:  # pinned while the probe was on its way: the probed link is not wanted
                self._actions.append(
                    CloseLive(self._live_generation, f"tier {self.pinned.value} pinned")
                )
                self.live = LinkState.DOWN
                self._live_up_since = None
                self._backoff.link_down(now)
                self._live_generation += 1
        if probe:
            if turn is not None and turn.phase is P.PROBING:
                self._dispatch(turn, now)
        elif turn is not None and turn.phase is P.WAITING_LINK:
            self._dispatch(turn, now)
        self._refresh_status("live link open", now)

    def live_connect_failed(
        self, generation: int, status: int | None, reason: str, now: float
    ) -> None:
        """Opening the live WebSocket failed; ``status`` is the refused upgrade's HTTP status."""
        if self._stale_live(generation) or self.live is not LinkState.CONNECTING:
            return
        self.live = LinkState.DOWN
        logger.info("live connect failed: %s", reason)
        if self._probing:
            self._probing = False
            turn = self._turn
            if turn is not None and turn.phase is P.PROBING:
                self._dispatch(turn, now)
            return
        self._live_failures += 1
        refused = status in (400, 401, 403, 404)
        exhausted = self._live_budget_spent()
        if refused or exhausted:
            why = (
                f"live upgrade refused ({status})"
                if refused
                else f"live failed to connect {self._live_failures} times ({reason})"
            )
            if self.pinned is Tier.LIVE:
                self._live_failures = 0
                self._backoff.reset()
                if self._turn is not None:
                    self._fail_turn(
                        ConnectionFailedError(
                            f"The live tier is pinned and unavailable: {why}. Unpin the tier "
                            "(pin_tier(None)) to let the client fall back to REST.",
                            unsent_text=self._turn.unsent_text,
                        ),
                        now,
                        why,
                    )
                self._refresh_status(why, now)
                return
            self._demote(why, now)
            return
        self._connect_live(self._backoff.next_delay(), self.settings.connect_timeout_s, False, now)
        self._refresh_status(f"live connect failed ({reason}); retrying", now)

    def live_closed(self, generation: int, reason: str, now: float) -> None:
        """The live WebSocket closed (cleanly or not) without the client asking for it."""
        if self._stale_live(generation) or self.live is not LinkState.UP:
            return
        self._live_lost(reason, now)

    def message_received(self, generation: int, frame: str | bytes, now: float) -> None:
        """A frame arrived on the live WebSocket."""
        if self._stale_live(generation):
            return
        self._handle_frame(frame, now, legacy=False)

    # legacy link --------------------------------------------------------------

    def legacy_opened(self, generation: int, now: float) -> None:
        if generation != self._legacy_generation or self.legacy is not LinkState.CONNECTING:
            return
        self.legacy = LinkState.UP
        self._legacy_backoff.link_up(now)
        logger.info("legacy link open (generation %d)", generation)

    def legacy_failed(self, generation: int, reason: str, now: float) -> None:
        """The legacy WebSocket failed to open or closed: poll while it is down, retry later."""
        if generation != self._legacy_generation or self.legacy is LinkState.DOWN:
            return
        was_up = self.legacy is LinkState.UP
        self.legacy = LinkState.DOWN
        self._legacy_backoff.link_down(now)
        logger.info("legacy link down: %s", reason)
        # A legacy link lives only on the legacy tier: leaving it or closing closes the link
        # and bumps the generation, so this failure would have been stale.
        if self.tier is Tier.LEGACY and not self.closed:  # pragma: no branch
            self._connect_legacy(self._legacy_backoff.next_delay())
            turn = self._turn
            if was_up and turn is not None and turn.phase is P.RECOVERING:
                self._poll(turn, 0.0)  # the socket was delivering: poll while it is down

    def legacy_message_received(self, generation: int, frame: str | bytes, now: float) -> None:
        if generation != self._legacy_generation:
            return
        self._handle_frame(frame, now, legacy=True)

    def tick(self, now: float) -> None:
        """Time passed: enforce deadlines, keep the live link alive."""
        if self.closed:
            return
        turn = self._turn
        if turn is not None:
            if now >= turn.began_at + self.settings.turn_deadline_s:
                problem = f" (last problem: {turn.last_problem})" if turn.last_problem else ""
                self._fail_turn(
                    TurnTimeoutError(
                        f"No complete reply within {self.settings.turn_deadline_s:g} s{problem}; "
                        "what arrived is kept. Try again, or pin another tier if this one keeps "
                        "failing.",
                        **turn.kept(),
                    ),
                    now,
                    "turn deadline passed",
                )
            elif turn.phase is P.RECONCILING:
                self._reconcile_overdue(turn, now)
            elif (
                self._watching_inactivity(turn)
                and now >= turn.last_activity + self.settings.stream_inactivity_s
            ):
                self._stalled(turn, now)
        if self.live is LinkState.UP and self._pong_due is not None and now >= self._pong_due:
            # half-open (the peer gone without a FIN or RST): drop the link at once, no
            # closing handshake waited for, within ping interval + pong timeout
            reason = f"no pong within {self.settings.app_pong_timeout_s:g} s"
            logger.info("live link: %s", reason)
            self._actions.append(CloseLive(self._live_generation, reason, abrupt=True))
            self._live_lost(reason, now)
        if self.live is LinkState.UP:
            if now >= self._last_ping + self.settings.app_ping_interval_s:
                self._last_ping = now
                if self._pong_due is None:
                    self._pong_due = now + self.settings.app_pong_timeout_s
                self._actions.append(SendPing(self._live_generation))
            if (
                self._live_up_since is not None
                and now - self._live_up_since >= self.settings.stable_link_s
            ):
                self._live_failures = 0
                self._live_proven = True
                self._backoff.tick(now)

    # outcomes of the driver's tasks ----------------------------------------------

    def credentials_failed(self, error: AuthenticationError, now: float) -> None:
        """The credentials are gone for good (a refresh refused and no password to log in
        with): links being opened stop, and the turn in flight ends at once with ``error``,
        keeping its text. A reply that is already complete still completes."""
        if self.closed:
            return
        logger.warning("credentials could not be renewed: %s", error.message)
        if self.live is LinkState.CONNECTING:
            self.live = LinkState.DOWN
            self._probing = False
            self._live_generation += 1
        if self.legacy is LinkState.CONNECTING:
            self.legacy = LinkState.DOWN
            self._legacy_generation += 1
        turn = self._turn
        if turn is None:
            self._fatal = "credentials could not be renewed"
            self._refresh_status(self._fatal, now)
        elif turn.phase is P.RECONCILING and has_text(turn):
            self._complete_unreconciled(turn, now, "credentials could not be renewed")
        else:
            self._fail_turn(
                AuthenticationError(
                    error.message,
                    status=error.status,
                    code=error.code,
                    **turn.kept(),
                ),
                now,
                "credentials could not be renewed",
            )

    def task_failed(self, task: str, error: BaseException, now: float) -> None:
        """A driver task (``task`` names it) ended with an error nobody handled: the turn in
        flight ends at once with it rather than waiting for its deadline."""
        if self.closed:
            return
        turn = self._turn
        logger.error("client task %s failed: %r", task, error)
        if turn is None:
            return
        if turn.phase is P.RECONCILING and has_text(turn):
            self._complete_unreconciled(turn, now, f"{task} failed")
            return
        unsent = turn.unsent_text
        if isinstance(error, LumeError):
            error.unsent_text = error.unsent_text or unsent
            error.partial_text = error.partial_text or turn.partial_text
            failure = error
        else:
            failure = LumeError(
                f"The client failed while delivering the message ({task}: "
                f"{type(error).__name__}); what arrived is kept. Send it again.",
                **turn.kept(),
            )
        self._fail_turn(failure, now, f"{task} failed")

    # ---------------------------------------------------------------- internals

    def _require_open(self) -> None:
        if self.closed:
            raise ConnectionFailedError(
                "This consultation was closed; open it again with LumeClient.open()."
            )

    def _stale_live(self, generation: int) -> bool:
        return generation != self._live_generation or self.closed

    def _live_budget_spent(self) -> bool:
        """Whether live has used its attempt budget and gives way to the tier below: during a
        turn, or while idle when live never proved itself (no reply delivered, never stable).
        A live link that worked is retried while idle without limit (backoff capped), so a
        backend that restarts between turns finds the client back on live; the next turn
        goes by REST at once if the budget is spent by then."""
        spent = self._live_failures >= self.settings.live_connect_attempts
        return spent and (self._turn is not None or not self._live_proven)

    def _should_probe(self, now: float) -> bool:
        if self.pinned is not None or self.tier is Tier.LIVE or self.live is not LinkState.DOWN:
            return False
        return self._last_probe is None or now - self._last_probe >= self.settings.probe_interval_s

    def _legacy_delivers(self) -> bool:
        return self.tier is Tier.LEGACY and self.legacy is LinkState.UP

    def _watching_inactivity(self, turn: Turn) -> bool:
        if turn.phase in WAITING_FOR_CONTENT:
            return True
        return (
            turn.phase is P.RECOVERING and self.tier is Tier.LEGACY and self.legacy is LinkState.UP
        )

    def _move(self, turn: Turn, phase: TurnPhase) -> None:
        if phase not in PHASE_MOVES[turn.phase]:
            raise IllegalTransition(
                f"turn cannot move from {turn.phase and turn.phase.value} to {phase.value}"
            )
        logger.debug("turn %s: %s -> %s", turn.id, turn.phase and turn.phase.value, phase.value)
        turn.phase = phase

    def _set_status(self, status: ConnectionStatus, reason: str, now: float) -> None:
        if status is self.status:
            return
        if status not in _STATUS_MOVES[self.status] or (self.closed and status is not S.OFFLINE):
            raise IllegalTransition(
                f"status cannot move from {self.status.value} to {status.value}"
            )
        previous, self.status = self.status, status
        logger.info("status %s -> %s: %s", previous.value, status.value, reason)
        self._events.append(StatusChanged(status, previous, reason, now))

    def _refresh_status(self, reason: str, now: float) -> None:
        if self.closed:  # pragma: no cover - every input after close() stops before this
            return
        if self._fatal is not None:
            status = S.ERROR
        elif self.tier is Tier.LIVE and self.live is not LinkState.UP:
            if self._live_ever_up or self._live_failures:
                status = S.RECONNECTING
            elif self.live is LinkState.DOWN and self._turn is None:
                status = S.OFFLINE
            else:
                status = S.CONNECTING
        elif self._turn is not None:
            status = S.STREAMING
        elif self.tier is not Tier.LIVE:
            status = S.DEGRADED
        else:
            status = S.CONNECTED
        self._set_status(status, reason, now)

    def _switch_tier(self, tier: Tier, reason: str, now: float, live_delay: float = 0.0) -> None:
        previous = self.tier
        if tier is previous:
            return  # pragma: no cover - every caller checks the tier differs
        self.tier = tier
        self._rest_failures = 0
        logger.info("tier %s -> %s: %s", previous.value, tier.value, reason)
        change = TierChanged(tier, previous, reason, now)
        self._events.append(change)
        if self._turn is not None:
            self._turn.tier_changes.append(change)
        if tier is not Tier.LIVE and self.live is not LinkState.DOWN:
            self._actions.append(CloseLive(self._live_generation, f"leaving live: {reason}"))
            self.live = LinkState.DOWN
            self._live_generation += 1
            self._probing = False
        if tier is Tier.LIVE and self.live is LinkState.DOWN:
            self._live_failures = 0
            self._backoff.reset()
            self._connect_live(live_delay, self.settings.connect_timeout_s, False, now)
        if tier is Tier.LEGACY and self.legacy is LinkState.DOWN:
            self._connect_legacy(0.0)
        if tier is not Tier.LEGACY and self.legacy is not LinkState.DOWN:
            self._actions.append(CloseLegacy(self._legacy_generation, f"leaving legacy: {reason}"))
            self.legacy = LinkState.DOWN
            self._legacy_generation += 1
        self._refresh_status(reason, now)

    def _demote(self, reason: str, now: float) -> None:
        below = self.tier.below()
        turn = self._turn
        if below is None and self.pinned is None and turn is not None and self.settings.cycle_tiers:
            self._start_over(turn, reason, now)
            return
        if below is None or self.pinned is not None:
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
                self._fail_turn(error, now, reason)
            self._set_status(S.OFFLINE, reason, now)
            return
        self._live_failures = 0
        self._backoff.reset()
        if self.tier is Tier.LIVE:
            self._last_probe = now  # live just failed: the next probe waits a full interval
        self._switch_tier(below, reason, now)
        if turn is not None:
            self._carry_over(turn, 0.0, now)

    def _carry_over(self, turn: Turn, delay: float, now: float) -> None:
        """Go on with ``turn`` on the tier just switched to (never sending it twice)."""
        if turn.phase in (P.PROBING, P.WAITING_LINK) and turn.sends == 0:
            self._dispatch(turn, now)
        elif turn.acknowledged:
            if turn.phase is not P.RECONCILING:
                self._move(turn, P.RECOVERING)
                turn.poll_interval = self._first_poll_interval()
                self._poll(turn, delay)
        elif turn.phase is not P.CHECKING:
            self._move(turn, P.CHECKING)
            self._check(turn, delay)

    def _start_over(self, turn: Turn, reason: str, now: float) -> None:
        """Every tier failed during ``turn``: go back to live after a backoff, the turn kept.

        Each round waits longer (full jitter, capped like every backoff); the turn deadline
        ends the rounds with a TurnTimeoutError that keeps what arrived.
        """
        turn.rounds += 1
        s = self.settings
        ceiling = min(s.backoff_cap_s, s.backoff_base_s * s.backoff_factor ** (turn.rounds + 1))
        delay = self._random() * ceiling
        logger.warning(
            "every tier failed (%s); starting again from live in %.2f s (round %d)",
            reason,
            delay,
            turn.rounds + 1,
        )
        self._live_failures = 0
        self._backoff.reset()
        self._switch_tier(
            Tier.LIVE, f"every tier failed ({reason}); trying live again", now, live_delay=delay
        )
        self._carry_over(turn, delay, now)

    def _connect_live(self, delay: float, timeout: float, probe: bool, now: float) -> None:
        self._live_generation += 1
        self.live = LinkState.CONNECTING
        self._probing = probe
        self._actions.append(ConnectLive(self._live_generation, delay, timeout, probe))

    def _connect_legacy(self, delay: float) -> None:
        self._legacy_generation += 1
        self.legacy = LinkState.CONNECTING
        self._actions.append(ConnectLegacy(self._legacy_generation, delay))

    def _live_lost(self, reason: str, now: float) -> None:
        was_short = (
            self._live_up_since is not None
            and now - self._live_up_since < self.settings.stable_link_s
        )
        self.live = LinkState.DOWN
        self._live_up_since = None
        self._backoff.link_down(now)
        logger.info("live link lost: %s", reason)
        if was_short:
            self._live_failures += 1
        turn = self._turn
        if turn is not None and turn.phase in WAITING_FOR_CONTENT:
            if turn.acknowledged:
                self._move(turn, P.RECOVERING)
                turn.poll_interval = self._first_poll_interval()
                self._poll(turn, 0.0)
            else:
                self._move(turn, P.CHECKING)
                self._check(turn, 0.0)
        if self.tier is Tier.LIVE:
            if self._live_budget_spent() and self.pinned is None:
                self._demote(f"live closed {self._live_failures} times soon after opening", now)
                return
            self._connect_live(
                self._backoff.next_delay(), self.settings.connect_timeout_s, False, now
            )
        else:  # pragma: no cover - live is up only on the live tier (an unwanted probe is closed)
            self._live_generation += 1
        self._refresh_status(f"live link lost: {reason}", now)

    def _stalled(self, turn: Turn, now: float) -> None:
        reason = f"no reply content for {self.settings.stream_inactivity_s:g} s"
        logger.warning("turn %s stalled: %s", turn.id, reason)
        if self.tier is Tier.LEGACY:
            self._move(turn, P.RECOVERING)
            turn.last_activity = now
            self._poll(turn, 0.0)
            return
        if self.live is LinkState.UP:
            self._actions.append(
                CloseLive(self._live_generation, f"stalled: {reason}", abrupt=True)
            )
            self._live_lost(f"stalled: {reason}", now)
        else:  # pragma: no cover - a turn waits for content only while the link is up
            self._move(turn, P.RECOVERING)
            self._poll(turn, 0.0)

    def _dispatch(self, turn: Turn, now: float) -> None:
        """Send the turn on the current tier, or queue it until that tier can."""
        if self.tier is Tier.LIVE:
            if self.live is LinkState.UP:
                self._move(turn, P.SENT)
                turn.sends += 1
                turn.sent_at = turn.sent_at if turn.sent_at is not None else now
                turn.last_activity = now
                self._actions.append(SendLive(self._live_generation, turn.id, turn.text))
                return
            self._move(turn, P.WAITING_LINK)
            if self.live is LinkState.DOWN:
                self._live_failures = 0
                self._backoff.reset()
                self._connect_live(0.0, self.settings.connect_timeout_s, False, now)
            elif self._live_failures >= self.settings.live_connect_attempts and self.pinned is None:
                # live kept failing while idle (it only retried): this turn goes by REST now
                self._demote(f"live failed {self._live_failures} times before this turn", now)
            return
        if self.tier is Tier.LEGACY and self.legacy is LinkState.DOWN:
            self._connect_legacy(0.0)  # stopped when the credentials failed: try it again
        turn.sent_at = turn.sent_at if turn.sent_at is not None else now
        self._send_rest(turn, 0.0, count=True)

    def _fail_turn(self, error: LumeError, now: float, reason: str) -> None:
        turn = self._turn
        assert turn is not None
        # a stop the user asked for is not a problem worth a warning (notebooks show warnings)
        level = logging.INFO if isinstance(error, TurnCancelledError) else logging.WARNING
        logger.log(level, "turn %s failed: %s", turn.id, reason)
        if isinstance(error, AuthenticationError):
            self._fatal = reason
        streaming_live = (
            self.tier is Tier.LIVE
            and self.live is LinkState.UP
            and turn.phase in WAITING_FOR_CONTENT
            and not self._closing
        )
        self._end_turn()
        if streaming_live:
            # a fresh socket, so no leftover frame of the abandoned reply reaches the next turn
            logger.info("reopening the live link: the reply in flight was abandoned")
            self._actions.append(CloseLive(self._live_generation, f"reply abandoned: {reason}"))
            self._live_up_since = None
            self._connect_live(0.0, self.settings.connect_timeout_s, False, now)
        self._after_turn(f"turn failed: {reason}", now)
        self._events.append(TurnFailed(turn.id, error, turn.partial_text))

    def _end_turn(self) -> None:
        self._turn = None
        self._pending_requests = set()

    def _after_turn(self, reason: str, now: float) -> None:
        if self._closing:
            return  # close() reports the end itself; a pending pin no longer matters
        if self.pinned is not None and self.pinned is not self.tier:
            self._switch_tier(self.pinned, "pinned by the user", now)
        self._refresh_status(reason, now)


def _default_random() -> Callable[[], float]:
    import random

    return random.random
