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

The session holds its parts: two :class:`~lume_widget.core.link.Link` objects (live,
legacy), a :class:`~lume_widget.core.requests.TurnRequests`, a
:class:`~lume_widget.core.tiers.TierPolicy`, a :class:`~lume_widget.core.delivery.TurnDelivery`
and a :class:`~lume_widget.core.live_watch.LiveWatch`. They share its state through one
:class:`~lume_widget.core.context.SessionContext` (the tier, the pin, the turn in flight, the
queued outputs, and the moves only the session makes), never the session itself. Link
state, turn phase and connection status are enums whose legal moves are tables
(``LINK_MOVES``, ``PHASE_MOVES``, ``STATUS_MOVES``; a demotion's outcome is ``DEMOTIONS``);
an illegal move raises :class:`IllegalTransition` leaving state unchanged. The status is
derived after each input; a status move the table forbids (a bug) is refused, logged and
kept in :attr:`Session.refused_moves`, never raised through the input that made it, so a
reply being completed still completes. Every change is logged.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from lume_widget.core.actions import (
    Action,
)
from lume_widget.core.backoff import Backoff
from lume_widget.core.context import SessionContext, SessionMoves
from lume_widget.core.delivery import TurnDelivery
from lume_widget.core.events import (
    ConnectionStatus,
    Event,
    StatusChanged,
    Tier,
    TurnFailed,
)
from lume_widget.core.link import Link, LinkState
from lume_widget.core.live_watch import LiveWatch
from lume_widget.core.models import Message
from lume_widget.core.requests import TurnRequests
from lume_widget.core.settings import Settings
from lume_widget.core.status import check_status_move, status_for
from lume_widget.core.tiers import TierPolicy
from lume_widget.core.transcript import Transcript
from lume_widget.core.turn import (
    WAITING_FOR_CONTENT,
    IllegalTransition,
    Turn,
    TurnPhase,
    move,
)
from lume_widget.core.wire import validate_message
from lume_widget.errors import (
    AuthenticationError,
    ConnectionFailedError,
    LumeError,
    TurnCancelledError,
)

__all__ = ["IllegalTransition", "LinkState", "Session", "TurnPhase"]

logger = logging.getLogger(__name__)

S = ConnectionStatus
P = TurnPhase


class Session:
    """The state machine of one consultation; see the module docstring."""

    def __init__(
        self,
        consultation_id: str,
        settings: Settings | None = None,
        *,
        pinned: Tier | None = None,
        history: Sequence[Message] = (),
        history_offset: int = 0,
        random: Callable[[], float] | None = None,
    ) -> None:
        self.consultation_id = consultation_id
        self.settings = settings or Settings()
        rnd = random if random is not None else _default_random()
        self.status: ConnectionStatus = S.CONNECTING
        self.transcript = Transcript(history, history_offset)
        self.live = Link(Tier.LIVE, Backoff(self.settings, rnd))
        self.legacy = Link(Tier.LEGACY, Backoff(self.settings, rnd))
        self._ctx = SessionContext(
            consultation_id=consultation_id,
            settings=self.settings,
            transcript=self.transcript,
            live=self.live,
            legacy=self.legacy,
            random=rnd,
            moves=SessionMoves(
                fail_turn=self._fail_turn,
                finish_turn=self._finish_turn,
                live_lost=self._live_lost,
                refresh_status=self._refresh_status,
                give_up=self._give_up,
                pong_received=self._pong_received,
            ),
            tier=pinned or Tier.LIVE,
            pinned=pinned,
        )
        self._actions: list[Action] = self._ctx.actions
        self._events: list[Event] = self._ctx.events
        self.closed = False
        self._closing = False
        self._fatal: str | None = None
        self.refused_moves: list[tuple[ConnectionStatus, ConnectionStatus, str]] = []
        """Status moves :data:`~lume_widget.core.status.STATUS_MOVES` does not allow that the
        session refused (each logged as a bug; the status stayed as it was): always empty
        unless the core has a bug."""
        self._turn_ids = itertools.count(1)
        self._initial_turn: str | None = None
        self._started = False
        self.requests = TurnRequests(self._ctx)
        """Issues the turn's sends and history reads and tells which answers count."""
        self.tiers = TierPolicy(self._ctx, self.requests)
        """Decides the tier: probes, demotions, pins; sends a turn on it."""
        self.delivery = TurnDelivery(self._ctx, self.requests, self.tiers)
        """Delivers the turns: the results of requests and the frames go through it."""
        self.live_watch = LiveWatch(self._ctx, self.requests, self.tiers)
        """Follows the live link: its opening, failures, losses and keepalive."""

    # ------------------------------------------------------------------- state

    @property
    def tier(self) -> Tier:
        """The tier that delivers turns now."""
        return self._ctx.tier

    @property
    def pinned(self) -> Tier | None:
        """The tier the user pinned (None: automatic)."""
        return self._ctx.pinned

    @property
    def _turn(self) -> Turn | None:
        return self._ctx.turn

    @_turn.setter
    def _turn(self, turn: Turn | None) -> None:
        self._ctx.turn = turn

    @property
    def frames_skipped(self) -> int:
        """Frame parts that could not be used (not JSON, no type, ...)."""
        return self.delivery.frames_skipped

    @property
    def frames_dropped(self) -> int:
        """Frames of another consultation, or late ones of a finished reply (logged at debug)."""
        return self.delivery.frames_dropped

    # ----------------------------------------------------------------- outputs

    def actions_to_perform(self) -> list[Action]:
        """I/O the driver must perform now, in order; the list is emptied."""
        actions = list(self._actions)
        self._actions.clear()
        return actions

    def events_received(self) -> list[Event]:
        """Facts to report, in order; the list is emptied."""
        events = list(self._events)
        self._events.clear()
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
        return self.live.generation

    @property
    def legacy_generation(self) -> int:
        return self.legacy.generation

    def next_deadline(self) -> float | None:
        """The time at which :meth:`tick` must be called if no other input arrives."""
        times = [] if self._turn is None else self.delivery.deadlines(self._turn)
        times += self.live_watch.deadlines()
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
            self.live_watch.connect(0.0, self.settings.connect_timeout_s)
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
            baseline=self.transcript.end,
            last_activity=now,
        )
        self._turn = turn
        self._fatal = None
        self._ctx.gave_up = False
        logger.info("turn %s begins on tier %s", turn.id, self.tier.value)
        if self.tiers.should_probe(now):
            self.tiers.last_probe = now
            move(turn, P.PROBING)
            self.live_watch.connect(0.0, self.settings.probe_timeout_s, probe=True)
        else:
            self.tiers.dispatch(turn, now)
        self._refresh_status("a reply is in flight", now)
        return turn.id

    def begin_initial_turn(
        self,
        text: str,
        sent_at: float,
        now: float,
        wall: datetime | None = None,
        *,
        stored: Message | None = None,
    ) -> str:
        """The consultation was created at ``sent_at`` with ``text`` as its first user message
        (``initial_message``, or a quick action's prompt: ``stored`` is then the server's copy,
        see :meth:`begin_quick_action_turn`): its answer is a turn of its own; returns the
        turn's id.

        The server has the message already, so nothing is sent: the reply is the first
        assistant message after the server's copy of it in the history (by ``reply_to`` when
        the backend gives it, else by order), read now from the transcript, then polled for
        or taken from a whole ``message`` frame. Its time to first token is measured from
        ``sent_at``. Call it once, before any other turn."""
        self._require_open()
        trimmed = validate_message(text)
        if self._turn is not None or self._initial_turn is not None:
            raise IllegalTransition("the initial message's turn must come before any other")
        turn = Turn(
            id=f"turn-{next(self._turn_ids)}",
            text=trimmed,
            began_at=sent_at,
            wall_start=wall,
            baseline=self.transcript.offset,
            last_activity=now,
            sent_at=sent_at,
            acknowledged=True,
            user_message=stored,
        )
        self._turn = turn
        self._initial_turn = turn.id
        logger.info("turn %s awaits the answer to the initial message", turn.id)
        move(turn, P.RECOVERING)
        self.delivery.take_history(turn, now)
        if self._turn is turn:
            self._refresh_status("the initial message's reply is in flight", now)
        return turn.id

    def begin_quick_action_turn(
        self, sent_at: float, now: float, wall: datetime | None = None
    ) -> str | None:
        """The consultation was just created at ``sent_at`` with a ``quick_action`` and no
        initial message, and the transcript holds its history as read after the create: if
        that history shows a user message (the quick action's prompt, stored by the backend),
        its answer is the consultation's initial turn (:meth:`begin_initial_turn`, matched
        after that stored message); returns the turn's id. A backend that stored no prompt
        leaves no user message in a new consultation: no initial turn (None), so nothing
        waits for an answer that never comes."""
        if self.transcript.offset != 0:
            return None  # not the start of the history: not a consultation just created
        prompt = next(
            (m for m in self.transcript.messages if m.role == "user" and m.content.strip()),
            None,
        )
        if prompt is None:
            return None
        return self.begin_initial_turn(prompt.content, sent_at, now, wall, stored=prompt)

    @property
    def initial_turn_id(self) -> str | None:
        """The id of the initial message's turn (:meth:`begin_initial_turn`), if there is one."""
        return self._initial_turn

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
        self._ctx.pinned = tier
        logger.info("tier pinned to %s", "automatic" if tier is None else tier.value)
        if tier is None:
            self.tiers.last_probe = None
            return
        if self._turn is None and tier is not self.tier:
            self.tiers.switch(tier, "pinned by the user", now)

    def simulate_live_drop(self, now: float) -> None:
        """Drop the live socket abruptly, as a network failure would."""
        self._require_open()
        if not self.live.up:
            raise IllegalTransition("the live socket is not open, so there is nothing to drop")
        self._actions.append(self.live.close_action("simulated drop", abrupt=True))
        self.live_watch.lost("simulated drop", now)

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
        for link in (self.live, self.legacy):
            if not link.down:
                self._actions.append(link.close_action("closed by the user"))
            link.close("closed by the user")
        self._set_status(S.OFFLINE, "closed by the user", now)

    # live link ----------------------------------------------------------------

    def live_opened(self, generation: int, now: float) -> None:
        """The live WebSocket of ``generation`` is open (after the handshake)."""
        if self._stale_live(generation) or self.live.state is not LinkState.CONNECTING:
            return
        self.live_watch.opened(generation, now)

    def live_connect_failed(
        self, generation: int, status: int | None, reason: str, now: float
    ) -> None:
        """Opening the live WebSocket failed; ``status`` is the refused upgrade's HTTP status."""
        if self._stale_live(generation) or self.live.state is not LinkState.CONNECTING:
            return
        self.live_watch.connect_failed(status, reason, now)

    def live_closed(self, generation: int, reason: str, now: float) -> None:
        """The live WebSocket closed (cleanly or not) without the client asking for it."""
        if self._stale_live(generation) or not self.live.up:
            return
        self.live_watch.lost(reason, now)

    def message_received(self, generation: int, frame: str | bytes, now: float) -> None:
        """A frame arrived on the live WebSocket."""
        if self._stale_live(generation):
            return
        self.delivery.handle_frame(frame, now, legacy=False)

    # results of requests (delivered by the session's TurnDelivery) -------------

    def send_succeeded(
        self,
        request_id: int,
        user_message: Message | None,
        assistant_message: Message | None,
        now: float,
    ) -> None:
        """A POST of the user's message was accepted (200, 201 or 202)."""
        self.delivery.send_succeeded(request_id, user_message, assistant_message, now)

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
        self.delivery.send_failed(request_id, status, retry_after, reason, now, code=code)

    def history_received(
        self, request_id: int, messages: Sequence[Message], now: float, *, start: int = 0
    ) -> None:
        """A history read answered; ``request_id`` 0 is a read the user asked for. ``start``
        is the index of the first of ``messages`` in the whole history (a page's offset)."""
        self.delivery.history_received(request_id, messages, now, start=start)

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
        self.delivery.history_failed(request_id, status, retry_after, reason, now, code=code)

    # legacy link --------------------------------------------------------------

    def legacy_opened(self, generation: int, now: float) -> None:
        if generation != self.legacy.generation or self.legacy.state is not LinkState.CONNECTING:
            return
        self.legacy.opened(now)
        logger.info("legacy link open (generation %d)", generation)

    def legacy_failed(self, generation: int, reason: str, now: float) -> None:
        """The legacy WebSocket failed to open or closed: poll while it is down, retry later."""
        if generation != self.legacy.generation or self.legacy.down:
            return
        was_up = self.legacy.up
        self.legacy.failed(reason)
        self.legacy.backoff.link_down(now)
        logger.info("legacy link down: %s", reason)
        # A legacy link lives only on the legacy tier: leaving it or closing closes the link
        # and bumps the generation, so this failure would have been stale.
        if self.tier is Tier.LEGACY and not self.closed:  # pragma: no branch
            self._connect_legacy(self.legacy.backoff.next_delay())
            turn = self._turn
            if was_up and turn is not None and turn.phase is P.RECOVERING:
                self.requests.poll(turn, 0.0)  # the socket was delivering: poll while it is down

    def legacy_message_received(self, generation: int, frame: str | bytes, now: float) -> None:
        if generation != self.legacy.generation:
            return
        self.delivery.handle_frame(frame, now, legacy=True)

    def tick(self, now: float) -> None:
        """Time passed: enforce deadlines, keep the live link alive."""
        if self.closed:
            return
        if self._turn is not None:
            self.delivery.tick(self._turn, now)
        self.live_watch.tick(now)

    # outcomes of the driver's tasks ----------------------------------------------

    def credentials_failed(self, error: AuthenticationError, now: float) -> None:
        """The credentials are gone for good (a refresh refused and no password to log in
        with): links being opened stop, and the turn in flight ends at once with ``error``,
        keeping its text. A reply that is already complete still completes."""
        if self.closed:
            return
        logger.warning("credentials could not be renewed: %s", error.message)
        for link in (self.live, self.legacy):
            if link.state is LinkState.CONNECTING:
                link.close("credentials could not be renewed")
        if self._turn is None:
            self._fatal = "credentials could not be renewed"
            self._refresh_status(self._fatal, now)
        else:
            self.delivery.end_with(error, now, "credentials could not be renewed")

    def task_failed(self, task: str, error: BaseException, now: float) -> None:
        """A driver task (``task`` names it) ended with an error nobody handled: the turn in
        flight ends at once with it rather than waiting for its deadline."""
        if self.closed:
            return
        logger.error("client task %s failed: %r", task, error)
        if self._turn is not None:
            self.delivery.end_with(error, now, f"{task} failed", task=task)

    # ---------------------------------------------------------------- internals

    def _require_open(self) -> None:
        if self.closed:
            raise ConnectionFailedError(
                "This consultation was closed; open it again with LumeClient.open()."
            )

    def _stale_live(self, generation: int) -> bool:
        return generation != self.live.generation or self.closed

    def _set_status(self, status: ConnectionStatus, reason: str, now: float) -> None:
        if status is self.status:
            return
        try:
            check_status_move(self.status, status, closed=self.closed)
        except IllegalTransition as exc:
            # A bug in the core, never the user's: keep the status and go on, so the input
            # that made the move (a reply completing, a link opening) still has its effect.
            logger.error("status move refused (%s): %s", exc, reason)
            self.refused_moves.append((self.status, status, reason))
            return
        previous, self.status = self.status, status
        logger.info("status %s -> %s: %s", previous.value, status.value, reason)
        self._events.append(StatusChanged(status, previous, reason, now))

    def _refresh_status(self, reason: str, now: float) -> None:
        if self.closed:  # pragma: no cover - every input after close() stops before this
            return
        status = status_for(
            fatal=self._fatal is not None,
            gave_up=self._ctx.gave_up,
            tier=self.tier,
            live=self.live,
            live_tried=self.live_watch.ever_up or self.live_watch.ever_failed,
            turn_in_flight=self._turn is not None,
        )
        self._set_status(status, reason, now)

    def _connect_legacy(self, delay: float) -> None:
        self._actions.append(self.legacy.connect(delay))

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
            and self.live.up
            and turn.phase in WAITING_FOR_CONTENT
            and not self._closing
        )
        self._end_turn()
        if streaming_live:
            # a fresh socket, so no leftover frame of the abandoned reply reaches the next turn
            logger.info("reopening the live link: the reply in flight was abandoned")
            self.live_watch.reopen(reason)
        self._after_turn(f"turn failed: {reason}", now)
        self._events.append(TurnFailed(turn.id, error, turn.partial_text))

    def _end_turn(self) -> None:
        self._turn = None
        self.requests.forget()

    def _finish_turn(self, reason: str, now: float) -> None:
        self._end_turn()
        self._after_turn(reason, now)

    def _give_up(self, reason: str) -> None:
        logger.info("giving up until the next turn: %s", reason)
        self._ctx.gave_up = True

    def _live_lost(self, reason: str, now: float) -> None:
        self.live_watch.lost(reason, now)

    def _pong_received(self) -> None:
        self.live_watch.pong()

    def _after_turn(self, reason: str, now: float) -> None:
        if self._closing:
            return  # close() reports the end itself; a pending pin no longer matters
        if self.pinned is not None and self.pinned is not self.tier:
            self.tiers.switch(self.pinned, "pinned by the user", now)
        self._refresh_status(reason, now)


def _default_random() -> Callable[[], float]:
    import random

    return random.random
