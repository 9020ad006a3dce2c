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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lume_widget.core.actions import (
    Action,
    CloseLegacy,
    CloseLive,
    ConnectLegacy,
    ConnectLive,
    FetchHistory,
    SendLive,
    SendPing,
    SendRest,
)
from lume_widget.core.backoff import Backoff, Decision, classify
from lume_widget.core.errors_map import error_for_status
from lume_widget.core.events import (
    ChunkReceived,
    ConnectionStatus,
    Event,
    HistoryLoaded,
    Reply,
    ReplyCompleted,
    StatusChanged,
    Tier,
    TierChanged,
    TurnFailed,
    UserMessageStored,
)
from lume_widget.core.models import Message
from lume_widget.core.settings import Settings
from lume_widget.core.transcript import Transcript, find_turn
from lume_widget.core.wire import message_from_json, parse_frames, validate_message
from lume_widget.errors import (
    AuthenticationError,
    ConnectionFailedError,
    ConsultationNotActiveError,
    LumeError,
    ServerError,
    TurnCancelledError,
    TurnTimeoutError,
)

__all__ = ["IllegalTransition", "LinkState", "Session", "TurnPhase"]

logger = logging.getLogger(__name__)

S = ConnectionStatus


class IllegalTransition(RuntimeError):
    """An input arrived that the current state does not allow; nothing was changed."""


class LinkState(enum.Enum):
    """State of one WebSocket link (live or legacy)."""

    DOWN = "down"
    CONNECTING = "connecting"
    UP = "up"


class TurnPhase(enum.Enum):
    """Where the turn in flight stands."""

    PROBING = "probing"  # checking whether live is back before sending
    WAITING_LINK = "waiting_link"  # queued until the live link opens
    CHECKING = "checking"  # looking in history before (re)sending
    SENDING = "sending"  # POST issued, no answer yet
    SENT = "sent"  # sent on live, not acknowledged yet
    ACKNOWLEDGED = "acknowledged"  # the server has the message, no content yet
    STREAMING = "streaming"  # content arriving on a socket
    RECOVERING = "recovering"  # polling history for the reply
    RECONCILING = "reconciling"  # reply finished, reading the server's stored copy


P = TurnPhase

_STATUS_MOVES: dict[ConnectionStatus, frozenset[ConnectionStatus]] = {
    S.CONNECTING: frozenset(
        {S.CONNECTED, S.STREAMING, S.RECONNECTING, S.DEGRADED, S.OFFLINE, S.ERROR}
    ),
    S.CONNECTED: frozenset(
        {S.STREAMING, S.RECONNECTING, S.DEGRADED, S.CONNECTING, S.OFFLINE, S.ERROR}
    ),
    S.STREAMING: frozenset(
        {S.CONNECTED, S.RECONNECTING, S.DEGRADED, S.CONNECTING, S.OFFLINE, S.ERROR}
    ),
    S.RECONNECTING: frozenset(
        {S.CONNECTED, S.STREAMING, S.DEGRADED, S.CONNECTING, S.OFFLINE, S.ERROR}
    ),
    S.DEGRADED: frozenset(
        {S.CONNECTED, S.STREAMING, S.CONNECTING, S.RECONNECTING, S.OFFLINE, S.ERROR}
    ),
    S.OFFLINE: frozenset(
        {S.CONNECTING, S.CONNECTED, S.STREAMING, S.DEGRADED, S.RECONNECTING, S.ERROR}
    ),
    S.ERROR: frozenset(
        {S.CONNECTING, S.CONNECTED, S.STREAMING, S.DEGRADED, S.RECONNECTING, S.OFFLINE}
    ),
}
"""Legal status moves; a closed session moves to OFFLINE once and never leaves it."""

_PHASE_MOVES: dict[TurnPhase | None, frozenset[TurnPhase]] = {
    None: frozenset({P.PROBING, P.WAITING_LINK, P.SENDING, P.SENT}),
    P.PROBING: frozenset({P.WAITING_LINK, P.SENDING, P.SENT}),
    P.WAITING_LINK: frozenset({P.SENT, P.SENDING, P.CHECKING}),
    P.CHECKING: frozenset({P.WAITING_LINK, P.SENDING, P.SENT, P.RECOVERING}),
    P.SENDING: frozenset({P.RECOVERING, P.RECONCILING, P.CHECKING, P.SENDING}),
    P.SENT: frozenset({P.ACKNOWLEDGED, P.STREAMING, P.CHECKING, P.RECONCILING, P.RECOVERING}),
    P.ACKNOWLEDGED: frozenset({P.STREAMING, P.RECOVERING, P.RECONCILING}),
    P.STREAMING: frozenset({P.RECOVERING, P.RECONCILING}),
    P.RECOVERING: frozenset({P.STREAMING, P.RECONCILING, P.RECOVERING}),
    P.RECONCILING: frozenset({P.RECONCILING}),
}
"""Legal turn-phase moves (ending a turn is always legal)."""

_WAITING_FOR_CONTENT = frozenset({P.SENT, P.ACKNOWLEDGED, P.STREAMING})
_MAX_SENDS = 8


@dataclass(slots=True)
class _Turn:
    id: str
    text: str
    began_at: float
    wall_start: datetime | None
    baseline: int
    phase: TurnPhase | None = None
    sent_at: float | None = None
    sends: int = 0
    acknowledged: bool = False
    user_message: Message | None = None
    user_message_reported: bool = False
    chunks: list[str] = field(default_factory=list)
    first_content_at: float | None = None
    last_activity: float = 0.0
    reconnects: int = 0
    tier_changes: list[TierChanged] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    poll_interval: float = 0.0
    whole_message: Message | None = None
    last_problem: str = ""

    @property
    def partial_text(self) -> str:
        return "".join(self.chunks)


class Session:
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
        self._backoff = Backoff(self.settings, rnd)
        self._legacy_backoff = Backoff(self.settings, rnd)
        self.pinned = pinned
        self.tier: Tier = pinned or Tier.LIVE
        self.status: ConnectionStatus = S.CONNECTING
        self.transcript = Transcript(history)
        self.live = LinkState.DOWN
        self.legacy = LinkState.DOWN
        self.frames_skipped = 0
        self.closed = False
        self._fatal: str | None = None
        self._live_generation = 0
        self._legacy_generation = 0
        self._probing = False
        self._live_failures = 0
        self._live_ever_up = False
        self._live_up_since: float | None = None
        self._last_ping = 0.0
        self._last_probe: float | None = None
        self._rest_failures = 0
        self._request_ids = itertools.count(1)
        self._pending_requests: set[int] = set()
        self._turn_ids = itertools.count(1)
        self._turn: _Turn | None = None
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
        if self.live is LinkState.UP:
            times.append(self._last_ping + self.settings.app_ping_interval_s)
            if self._live_up_since is not None and self._live_failures:
                times.append(self._live_up_since + self.settings.stable_link_s)
        return min(times) if times else None

    # ------------------------------------------------------------------ inputs

    def start(self, now: float) -> None:
        """Begin: open the link of the starting tier."""
        if self._started:
            raise IllegalTransition("the session has already started")
        self._started = True
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
        turn = _Turn(
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
            partial_text=turn.partial_text,
            unsent_text=None if turn.acknowledged else turn.text,
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
        turn = self._turn
        if turn is not None:
            self._fail_turn(
                TurnCancelledError(
                    "The consultation was closed while a reply was in flight.",
                    partial_text=turn.partial_text,
                    unsent_text=None if turn.acknowledged else turn.text,
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
        self._backoff.link_up(now)
        turn = self._turn
        if self._live_ever_up and turn is not None and not probe:
            turn.reconnects += 1
        self._live_ever_up = True
        logger.info("live link open (generation %d)", generation)
        if probe:
            if self.pinned is None and self.tier is not Tier.LIVE:
                self._switch_tier(Tier.LIVE, "live is reachable again", now)
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
        exhausted = self._live_failures >= self.settings.live_connect_attempts
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
                            unsent_text=None if self._turn.acknowledged else self._turn.text,
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
        if self.tier is Tier.LEGACY and not self.closed:
            self._connect_legacy(self._legacy_backoff.next_delay())
            turn = self._turn
            if was_up and turn is not None and turn.phase in (P.ACKNOWLEDGED, P.STREAMING):
                self._move(turn, P.RECOVERING)
                self._poll(turn, 0.0)

    def legacy_message_received(self, generation: int, frame: str | bytes, now: float) -> None:
        if generation != self._legacy_generation:
            return
        self._handle_frame(frame, now, legacy=True)

    # requests -----------------------------------------------------------------

    def send_succeeded(
        self,
        request_id: int,
        user_message: Message | None,
        assistant_message: Message | None,
        now: float,
    ) -> None:
        """A POST of the user's message was accepted (200, 201 or 202)."""
        turn = self._take_request(request_id)
        if turn is None or turn.phase is not P.SENDING:
            return
        self._rest_failures = 0
        turn.acknowledged = True
        turn.last_activity = now
        if user_message is not None:
            turn.user_message = user_message
            self._report_user_message(turn)
        assistant_message = assistant_message or turn.whole_message
        if assistant_message is not None:
            turn.whole_message = assistant_message
            self._note_content(turn, assistant_message.content, now, whole=True)
            self._reconcile(turn, 0.0)
            return
        self._move(turn, P.RECOVERING)
        turn.poll_interval = self._first_poll_interval()
        if self.tier is Tier.LEGACY and self.legacy is LinkState.UP:
            return  # the legacy socket delivers the reply; the inactivity deadline guards it
        self._poll(turn, turn.poll_interval)

    def send_failed(
        self,
        request_id: int,
        status: int | None,
        retry_after: str | None,
        reason: str,
        now: float,
        *,
        code: str | None = None,
    ) -> None:
        """A POST of the user's message failed (``status`` None: no answer at all)."""
        turn = self._take_request(request_id)
        if turn is None or turn.phase is not P.SENDING:
            return
        turn.last_problem = reason
        verdict = classify(status, retry_after, self.settings)
        if verdict.decision is Decision.WAIT:
            logger.info("send rate limited; waiting %.2f s", verdict.wait_s)
            self._send_rest(turn, verdict.wait_s, count=False)
            return
        if verdict.decision is not Decision.RETRY:
            error = error_for_status(status, reason, code=code, unsent_text=turn.text)
            self._fail_turn(error, now, reason)
            return
        self._count_rest_failure(turn, reason, now, check_first=True)

    def history_received(self, request_id: int, messages: Sequence[Message], now: float) -> None:
        """A history read answered; ``request_id`` 0 is a read the user asked for."""
        turn = self._take_request(request_id) if request_id else None
        stale = request_id != 0 and turn is None
        if self.transcript.replace(messages):
            self._events.append(HistoryLoaded(self.transcript.messages))
        if stale or turn is None:
            return
        if turn.phase is not P.CHECKING:
            self._rest_failures = 0  # a check between failed sends does not prove sends work
        match = find_turn(
            self.transcript.messages,
            turn.text,
            turn.baseline,
            None if turn.user_message is None else turn.user_message.id,
        )
        if match.user_message is not None:
            turn.user_message = match.user_message
            turn.acknowledged = True
            self._report_user_message(turn)
        if match.reply is not None:
            self._complete(turn, match.reply, now)
            return
        if turn.phase is P.CHECKING:
            if match.user_message is not None:
                self._move(turn, P.RECOVERING)
                turn.poll_interval = self._first_poll_interval()
                self._poll(turn, turn.poll_interval)
            else:
                self._resend(turn, now)
        elif turn.phase is P.RECONCILING:
            self._reconcile(turn, self.settings.reconcile_retry_s)
        elif turn.phase is P.RECOVERING:
            turn.poll_interval = self._next_poll_interval(turn.poll_interval)
            self._poll(turn, turn.poll_interval)

    def history_failed(
        self,
        request_id: int,
        status: int | None,
        retry_after: str | None,
        reason: str,
        now: float,
        *,
        code: str | None = None,
    ) -> None:
        """A history read of a turn failed."""
        turn = self._take_request(request_id)
        if turn is None or turn.phase not in (P.CHECKING, P.RECOVERING, P.RECONCILING):
            return
        turn.last_problem = reason
        verdict = classify(status, retry_after, self.settings)
        phase = turn.phase
        if verdict.decision is Decision.WAIT:
            self._again(turn, phase, verdict.wait_s)
            return
        if verdict.decision is not Decision.RETRY:
            error = error_for_status(
                status,
                reason,
                code=code,
                unsent_text=None if turn.acknowledged else turn.text,
                partial_text=turn.partial_text,
            )
            self._fail_turn(error, now, reason)
            return
        if self.tier is Tier.LIVE:
            self._again(turn, phase, self._backoff_delay_for_poll())
            return
        self._count_rest_failure(turn, reason, now, check_first=phase is P.CHECKING)

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
                        partial_text=turn.partial_text,
                        unsent_text=None if turn.acknowledged else turn.text,
                    ),
                    now,
                    "turn deadline passed",
                )
            elif (
                self._watching_inactivity(turn)
                and now >= turn.last_activity + self.settings.stream_inactivity_s
            ):
                self._stalled(turn, now)
        if self.live is LinkState.UP:
            if now >= self._last_ping + self.settings.app_ping_interval_s:
                self._last_ping = now
                self._actions.append(SendPing(self._live_generation))
            if (
                self._live_up_since is not None
                and now - self._live_up_since >= self.settings.stable_link_s
            ):
                self._live_failures = 0
                self._backoff.tick(now)

    # ---------------------------------------------------------------- internals

    def _require_open(self) -> None:
        if self.closed:
            raise ConnectionFailedError(
                "This consultation was closed; open it again with LumeClient.open()."
            )

    def _stale_live(self, generation: int) -> bool:
        return generation != self._live_generation or self.closed

    def _should_probe(self, now: float) -> bool:
        if self.pinned is not None or self.tier is Tier.LIVE or self.live is not LinkState.DOWN:
            return False
        return self._last_probe is None or now - self._last_probe >= self.settings.probe_interval_s

    def _watching_inactivity(self, turn: _Turn) -> bool:
        if turn.phase in _WAITING_FOR_CONTENT:
            return True
        return (
            turn.phase is P.RECOVERING and self.tier is Tier.LEGACY and self.legacy is LinkState.UP
        )

    def _move(self, turn: _Turn, phase: TurnPhase) -> None:
        if phase not in _PHASE_MOVES[turn.phase]:
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
        if self.closed:
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

    def _switch_tier(self, tier: Tier, reason: str, now: float) -> None:
        previous = self.tier
        if tier is previous:
            return
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
            self._connect_live(0.0, self.settings.connect_timeout_s, False, now)
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
        if below is None or self.pinned is not None:
            if turn is not None:
                self._fail_turn(
                    ConnectionFailedError(
                        f"The backend could not be reached ({reason}). Check the URL and your "
                        "network, then send again.",
                        unsent_text=None if turn.acknowledged else turn.text,
                        partial_text=turn.partial_text,
                    ),
                    now,
                    reason,
                )
            self._set_status(S.OFFLINE, reason, now)
            return
        self._live_failures = 0
        self._backoff.reset()
        if self.tier is Tier.LIVE:
            self._last_probe = now  # live just failed: the next probe waits a full interval
        self._switch_tier(below, reason, now)
        if turn is None:
            return
        if turn.phase in (P.PROBING, P.WAITING_LINK) and turn.sends == 0:
            self._dispatch(turn, now)
        elif turn.acknowledged:
            if turn.phase is not P.RECONCILING:
                self._move(turn, P.RECOVERING)
                turn.poll_interval = self._first_poll_interval()
                self._poll(turn, 0.0)
        elif turn.phase is not P.CHECKING:
            self._move(turn, P.CHECKING)
            self._check(turn, 0.0)

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
        if turn is not None and turn.phase in _WAITING_FOR_CONTENT:
            if turn.acknowledged:
                self._move(turn, P.RECOVERING)
                turn.poll_interval = self._first_poll_interval()
                self._poll(turn, 0.0)
            else:
                self._move(turn, P.CHECKING)
                self._check(turn, 0.0)
        if self.tier is Tier.LIVE:
            if self._live_failures >= self.settings.live_connect_attempts and self.pinned is None:
                self._demote(f"live closed {self._live_failures} times soon after opening", now)
                return
            self._connect_live(
                self._backoff.next_delay(), self.settings.connect_timeout_s, False, now
            )
        else:
            self._live_generation += 1
        self._refresh_status(f"live link lost: {reason}", now)

    def _stalled(self, turn: _Turn, now: float) -> None:
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

    def _dispatch(self, turn: _Turn, now: float) -> None:
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
            return
        turn.sent_at = turn.sent_at if turn.sent_at is not None else now
        self._send_rest(turn, 0.0, count=True)

    def _send_rest(self, turn: _Turn, delay: float, *, count: bool) -> None:
        self._move(turn, P.SENDING)
        if count:
            turn.sends += 1
        request_id = self._new_request(turn)
        self._actions.append(SendRest(request_id, turn.id, self.tier, turn.text, delay))

    def _resend(self, turn: _Turn, now: float) -> None:
        if turn.sends >= _MAX_SENDS:
            self._fail_turn(
                ConnectionFailedError(
                    "The message could not be delivered after a retry; it was not stored. "
                    "Send it again when the connection is back.",
                    unsent_text=turn.text,
                ),
                now,
                "delivery failed twice",
            )
            return
        self._dispatch(turn, now)

    def _check(self, turn: _Turn, delay: float) -> None:
        request_id = self._new_request(turn)
        self._actions.append(FetchHistory(request_id, self._history_tier(), delay, "check"))

    def _poll(self, turn: _Turn, delay: float) -> None:
        request_id = self._new_request(turn)
        self._actions.append(FetchHistory(request_id, self._history_tier(), delay, "poll"))

    def _reconcile(self, turn: _Turn, delay: float) -> None:
        if turn.phase is not P.RECONCILING:
            self._move(turn, P.RECONCILING)
        request_id = self._new_request(turn)
        self._actions.append(FetchHistory(request_id, self._history_tier(), delay, "reconcile"))

    def _again(self, turn: _Turn, phase: TurnPhase, delay: float) -> None:
        if phase is P.CHECKING:
            self._check(turn, delay)
        elif phase is P.RECONCILING:
            self._reconcile(turn, delay)
        else:
            self._poll(turn, delay)

    def _history_tier(self) -> Tier:
        return Tier.LEGACY if self.tier is Tier.LEGACY else Tier.REST

    def _new_request(self, turn: _Turn) -> int:
        request_id = next(self._request_ids)
        self._pending_requests = {request_id}
        return request_id

    def _take_request(self, request_id: int) -> _Turn | None:
        if request_id not in self._pending_requests or self._turn is None:
            return None
        self._pending_requests.discard(request_id)
        return self._turn

    def _first_poll_interval(self) -> float:
        if self.tier is Tier.LEGACY:
            return self.settings.legacy_poll_s
        return self.settings.rest_poll_initial_s

    def _next_poll_interval(self, current: float) -> float:
        if self.tier is Tier.LEGACY:
            return self.settings.legacy_poll_s
        grown = max(current, self.settings.rest_poll_initial_s) * self.settings.rest_poll_growth
        return min(self.settings.rest_poll_max_s, grown)

    def _backoff_delay_for_poll(self) -> float:
        return max(self.settings.rest_poll_initial_s, self._backoff.ceiling())

    def _count_rest_failure(
        self, turn: _Turn, reason: str, now: float, *, check_first: bool
    ) -> None:
        self._rest_failures += 1
        logger.info("%s failure %d: %s", self.tier.value, self._rest_failures, reason)
        if self._rest_failures >= self.settings.rest_failure_limit:
            self._rest_failures = 0
            if turn.phase is P.SENDING:
                self._move(turn, P.CHECKING)
            self._demote(
                f"{self.tier.value} failed {self.settings.rest_failure_limit} times ({reason})", now
            )
            if self._turn is turn and turn.phase is P.CHECKING and not self._pending_requests:
                self._check(turn, 0.0)
            return
        delay = self._backoff.ceiling() * min(1.0, 0.5 + 0.5 * self._rest_failures / 3)
        if turn.phase is P.SENDING:
            self._move(turn, P.CHECKING)
        if check_first or turn.phase is P.CHECKING:
            self._check(turn, delay)
        else:
            self._poll(turn, delay)

    def _handle_frame(self, frame: str | bytes, now: float, *, legacy: bool) -> None:
        batch = parse_frames(frame)
        if batch.skipped:
            self.frames_skipped += batch.skipped
            logger.debug("skipped %d unusable frame part(s)", batch.skipped)
        for event in batch.events:
            turn = self._turn
            kind = event.get("type")
            if turn is None or turn.phase is None:
                self._handle_idle_frame(event)
                continue
            if kind == "message_received":
                if turn.phase is P.SENT:
                    turn.acknowledged = True
                    turn.last_activity = now
                    self._move(turn, P.ACKNOWLEDGED)
            elif kind == "stream_chunk":
                content = event.get("content")
                if isinstance(content, str) and turn.phase in (P.SENT, P.ACKNOWLEDGED, P.STREAMING):
                    turn.acknowledged = True
                    if turn.phase is not P.STREAMING:
                        self._move(turn, P.STREAMING)
                    self._note_content(turn, content, now, whole=False)
            elif kind == "stream_complete":
                if turn.phase in (P.SENT, P.ACKNOWLEDGED, P.STREAMING):
                    metadata = event.get("metadata")
                    if isinstance(metadata, Mapping):
                        turn.metadata.update(metadata)
                    turn.acknowledged = True
                    self._reconcile(turn, 0.0)
            elif kind == "message":
                self._handle_message_frame(turn, event, now)
            elif kind == "error":
                self._handle_error_frame(turn, event, now)
            # connected, pong: liveness only

    def _handle_idle_frame(self, event: Mapping[str, Any]) -> None:
        if event.get("type") == "message":
            message = message_from_json(event.get("message"))
            if message is not None and self.transcript.add(message):
                self._events.append(HistoryLoaded(self.transcript.messages))

    def _handle_message_frame(self, turn: _Turn, event: Mapping[str, Any], now: float) -> None:
        message = message_from_json(event.get("message"))
        if message is None:
            self.frames_skipped += 1
            return
        if message.role == "user":
            if turn.user_message is None and message.content.strip() == turn.text:
                turn.user_message = message
                turn.acknowledged = True
                self._report_user_message(turn)
            return
        if message.role != "assistant" or turn.phase not in (
            P.SENT,
            P.ACKNOWLEDGED,
            P.STREAMING,
            P.RECOVERING,
            P.SENDING,
        ):
            return
        if turn.phase is P.SENDING:
            # The reply beat the POST's answer: keep it and reconcile once the POST answers.
            turn.whole_message = message
            return
        turn.acknowledged = True
        turn.whole_message = message
        self._note_content(turn, message.content, now, whole=True)
        self._reconcile(turn, 0.0)

    def _handle_error_frame(self, turn: _Turn, event: Mapping[str, Any], now: float) -> None:
        text = event.get("error")
        message = text if isinstance(text, str) and text else "the server reported an error"
        code = event.get("code")
        unsent = None if turn.acknowledged else turn.text
        error: LumeError
        if code == "CONSULTATION_NOT_ACTIVE":
            error = ConsultationNotActiveError(
                "This consultation is no longer active; start a new one to keep chatting.",
                code=str(code),
                unsent_text=unsent,
                partial_text=turn.partial_text,
            )
        else:
            error = ServerError(
                f"The server could not produce a reply: {message}. Send the message again.",
                code=code if isinstance(code, str) else None,
                unsent_text=unsent,
                partial_text=turn.partial_text,
            )
        self._fail_turn(error, now, message)

    def _note_content(self, turn: _Turn, content: str, now: float, *, whole: bool) -> None:
        turn.last_activity = now
        if whole and turn.chunks:
            return  # already streamed: the reconcile adopts the stored text
        if content and turn.first_content_at is None:
            turn.first_content_at = now
        index = len(turn.chunks)
        turn.chunks.append(content)
        if content:
            self._events.append(ChunkReceived(turn.id, content, index, now))

    def _report_user_message(self, turn: _Turn) -> None:
        if turn.user_message is not None and not turn.user_message_reported:
            turn.user_message_reported = True
            self._events.append(UserMessageStored(turn.user_message, turn.id))

    def _complete(self, turn: _Turn, reply: Message, now: float) -> None:
        if turn.first_content_at is None:
            turn.first_content_at = now
        sent_at = turn.sent_at if turn.sent_at is not None else turn.began_at
        metadata = dict(turn.metadata)
        if reply.tokens_used is not None:
            metadata.setdefault("tokens_used", reply.tokens_used)
        if reply.processing_time_ms is not None:
            metadata.setdefault("processing_time_ms", reply.processing_time_ms)
        result = Reply(
            text=reply.content,
            message_id=reply.id,
            consultation_id=self.consultation_id,
            user_message_id=None if turn.user_message is None else turn.user_message.id,
            tier=self.tier,
            ttft_s=max(0.0, turn.first_content_at - sent_at),
            duration_s=max(0.0, now - sent_at),
            chunks=max(1, len([c for c in turn.chunks if c])),
            reconnects=turn.reconnects,
            tier_changes=tuple(turn.tier_changes),
            started_at=turn.wall_start,
            metadata=metadata,
            turn_id=turn.id,
        )
        logger.info(
            "turn %s complete on %s: %d chars, %d chunks",
            turn.id,
            self.tier.value,
            len(reply.content),
            result.chunks,
        )
        self._end_turn()
        self._after_turn("reply complete", now)
        self._events.append(ReplyCompleted(result))

    def _fail_turn(self, error: LumeError, now: float, reason: str) -> None:
        turn = self._turn
        assert turn is not None
        logger.warning("turn %s failed: %s", turn.id, reason)
        if isinstance(error, AuthenticationError):
            self._fatal = reason
        self._end_turn()
        self._after_turn(f"turn failed: {reason}", now)
        self._events.append(TurnFailed(turn.id, error, turn.partial_text))

    def _end_turn(self) -> None:
        self._turn = None
        self._pending_requests = set()

    def _after_turn(self, reason: str, now: float) -> None:
        if self.closed:
            return
        if self.pinned is not None and self.pinned is not self.tier:
            self._switch_tier(self.pinned, "pinned by the user", now)
        self._refresh_status(reason, now)


def _default_random() -> Callable[[], float]:
    import random

    return random.random
