"""How a turn is delivered and finished: send and history results, frames, polls, completion.

A mixin of :class:`lume_widget.core.session.Session` (which owns the links, tiers and
status); kept apart so each module stays readable. Pure: no I/O, time comes in ``now``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lume_widget.core.actions import Action, FetchHistory, SendRest
from lume_widget.core.backoff import Backoff, Decision, classify
from lume_widget.core.errors_map import error_for_status
from lume_widget.core.events import (
    ChunkReceived,
    ConnectionStatus,
    Event,
    HistoryLoaded,
    ReplyCompleted,
    Tier,
    UserMessageStored,
)
from lume_widget.core.frames import (
    Acknowledged,
    Chunk,
    Completed,
    Frame,
    FrameError,
    Pong,
    WholeMessage,
)
from lume_widget.core.models import Message
from lume_widget.core.settings import Settings
from lume_widget.core.transcript import Transcript, find_turn
from lume_widget.core.turn import (
    MAX_SENDS,
    WAITING_FOR_CONTENT,
    Turn,
    TurnPhase,
    build_reply,
    error_from_frame,
    reply_not_stored,
)
from lume_widget.core.wire import parse_frames
from lume_widget.errors import ConnectionFailedError, LumeError
from lume_widget.text import is_high_surrogate, repair_text

__all__ = ["TurnDelivery", "has_text"]

logger = logging.getLogger("lume_widget.core.session")

P = TurnPhase

BACKGROUND_READS = 8
"""History reads tried after a turn completed without its stored copy."""


class TurnDelivery:
    """Turn delivery for the session; the attributes and hooks below are the session's."""

    consultation_id: str
    settings: Settings
    tier: Tier
    status: ConnectionStatus
    transcript: Transcript
    frames_skipped: int
    frames_dropped: int
    _turn: Turn | None
    _events: list[Event]
    _actions: list[Action]
    _pending_requests: set[int]
    _request_ids: itertools.count[int]
    _rest_failures: int
    _backoff: Backoff
    _background_reads: dict[int, int]
    _live_proven: bool
    _pong_due: float | None

    if TYPE_CHECKING:  # provided by Session

        def _move(self, turn: Turn, phase: TurnPhase) -> None: ...

        def _fail_turn(self, error: LumeError, now: float, reason: str) -> None: ...

        def _demote(self, reason: str, now: float) -> None: ...

        def _dispatch(self, turn: Turn, now: float) -> None: ...

        def _end_turn(self) -> None: ...

        def _after_turn(self, reason: str, now: float) -> None: ...

        def _legacy_delivers(self) -> bool: ...

    # results of requests --------------------------------------------------------

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
            self._reconcile(turn, 0.0, now)
            return
        self._move(turn, P.RECOVERING)
        turn.poll_interval = self._first_poll_interval()
        if self._legacy_delivers():
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
        turn.last_status = status
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
        self._background_reads.pop(request_id, None)
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
            turn.partial_text if turn.phase is P.RECONCILING else "",
            None if turn.whole_message is None else turn.whole_message.id,
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
            if not self._reconcile_overdue(turn, now):
                self._reconcile(turn, self.settings.reconcile_retry_s)
        # A turn's pending history read is a check, a reconcile or a poll: no fourth phase.
        elif turn.phase is P.RECOVERING:  # pragma: no branch
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
        if request_id in self._background_reads:
            self._background_read_failed(request_id)
            return
        turn = self._take_request(request_id)
        if turn is None or turn.phase not in (P.CHECKING, P.RECOVERING, P.RECONCILING):
            return
        turn.last_problem = reason
        turn.last_status = status
        if code == "REPLY_NOT_STORED":
            self._fail_turn(reply_not_stored(turn), now, reason)
            return
        verdict = classify(status, retry_after, self.settings)
        phase = turn.phase
        if phase is P.RECONCILING and has_text(turn):
            if verdict.decision is Decision.GIVE_UP:
                self._complete_unreconciled(turn, now, reason)
                return
            if self._reconcile_overdue(turn, now):
                return
        if verdict.decision is Decision.WAIT:
            self._again(turn, phase, verdict.wait_s)
            return
        if verdict.decision is not Decision.RETRY:
            error = error_for_status(
                status,
                reason,
                code=code,
                **turn.kept(),
            )
            self._fail_turn(error, now, reason)
            return
        if self.tier is Tier.LIVE:
            self._again(turn, phase, self._backoff_delay_for_poll())
            return
        self._count_rest_failure(turn, reason, now, check_first=phase is P.CHECKING)

    def _send_rest(self, turn: Turn, delay: float, *, count: bool) -> None:
        self._move(turn, P.SENDING)
        if count:
            turn.sends += 1
        request_id = self._new_request(turn)
        self._actions.append(SendRest(request_id, turn.id, self.tier, turn.text, delay))

    def _resend(self, turn: Turn, now: float) -> None:
        if turn.sends >= MAX_SENDS:
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

    def _check(self, turn: Turn, delay: float) -> None:
        request_id = self._new_request(turn)
        self._actions.append(FetchHistory(request_id, self._history_tier(), delay, "check"))

    def _poll(self, turn: Turn, delay: float) -> None:
        request_id = self._new_request(turn)
        self._actions.append(FetchHistory(request_id, self._history_tier(), delay, "poll"))

    def _reconcile(self, turn: Turn, delay: float, now: float | None = None) -> None:
        if turn.phase is not P.RECONCILING:
            self._move(turn, P.RECONCILING)
        if turn.reconcile_since is None and now is not None:
            turn.reconcile_since = now
        request_id = self._new_request(turn)
        self._actions.append(FetchHistory(request_id, self._history_tier(), delay, "reconcile"))

    def _again(self, turn: Turn, phase: TurnPhase, delay: float) -> None:
        if phase is P.CHECKING:
            self._check(turn, delay)
        elif phase is P.RECONCILING:
            self._reconcile(turn, delay)
        else:
            self._poll(turn, delay)

    def _history_tier(self) -> Tier:
        return Tier.LEGACY if self.tier is Tier.LEGACY else Tier.REST

    def _new_request(self, turn: Turn) -> int:
        request_id = next(self._request_ids)
        self._pending_requests = {request_id}
        return request_id

    def _take_request(self, request_id: int) -> Turn | None:
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
        self, turn: Turn, reason: str, now: float, *, check_first: bool
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
            owner = event.consultation_id
            if owner is not None and owner != self.consultation_id.lower():
                self.frames_dropped += 1
                logger.debug("dropped a %s frame of another consultation", event.TYPE)
                continue
            if isinstance(event, Pong):
                if not legacy:
                    self._pong_due = None  # the live link answers: the keepalive is satisfied
                continue
            if turn is None or turn.phase is None:
                if isinstance(event, (Chunk, Completed, FrameError)):
                    self.frames_dropped += 1
                    logger.debug("dropped a late %s frame: no reply is in flight", event.TYPE)
                elif isinstance(event, WholeMessage) and event.message is not None:
                    self._adopt_message(event.message)
                continue
            if isinstance(event, Acknowledged):
                if turn.phase is P.SENT:
                    turn.acknowledged = True
                    turn.last_activity = now
                    turn.acknowledged_stamp = event.stamp
                    self._move(turn, P.ACKNOWLEDGED)
            elif isinstance(event, Chunk):
                if _from_before(turn, event):
                    self.frames_dropped += 1
                    logger.debug("dropped a stream_chunk stamped before this turn's reply began")
                elif event.content is not None and turn.phase in WAITING_FOR_CONTENT:
                    turn.acknowledged = True
                    if turn.phase is not P.STREAMING:
                        self._move(turn, P.STREAMING)
                    self._note_content(turn, event.content, now, whole=False)
            elif isinstance(event, Completed):
                if turn.phase in WAITING_FOR_CONTENT:
                    turn.metadata.update(event.metadata)
                    turn.acknowledged = True
                    self._reconcile(turn, 0.0, now)
            elif isinstance(event, WholeMessage):
                self._handle_message_frame(turn, event.message, now)
            elif isinstance(event, FrameError):
                error, message = error_from_frame(turn, event)
                self._fail_turn(error, now, message)
            # Connected: nothing to do

    def _adopt_message(self, message: Message) -> None:
        """A whole stored message that is not the reply in flight: show it where it belongs."""
        if self.transcript.add(message):
            self._events.append(HistoryLoaded(self.transcript.messages))

    def _not_this_turns(self, turn: Turn, message: Message) -> bool:
        """Whether a whole assistant message is certainly not the reply ``turn`` waits for."""
        known = self.transcript.messages
        if any(m.id == message.id for m in known):
            return True  # known before: a late frame of an earlier turn
        if message.reply_to is None:
            return False
        if turn.user_message is not None:
            return message.reply_to != turn.user_message.id
        # it answers a message shown before this turn began (an initial message, a stopped turn)
        return any(m.id == message.reply_to for m in known[: turn.baseline])

    def _handle_message_frame(self, turn: Turn, message: Message | None, now: float) -> None:
        if message is None:
            self.frames_skipped += 1
            return
        if message.consultation_id not in (None, self.consultation_id.lower()):
            self.frames_dropped += 1
            logger.debug("dropped a message of another consultation")
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
        if self._not_this_turns(turn, message):
            logger.debug("a whole reply to another message arrived; kept in the transcript")
            self._adopt_message(message)
            return
        if turn.phase is P.SENDING:
            # The reply beat the POST's answer: keep it and reconcile once the POST answers.
            turn.whole_message = message
            return
        turn.acknowledged = True
        turn.whole_message = message
        self._note_content(turn, message.content, now, whole=True)
        self._reconcile(turn, 0.0, now)

    def _note_content(self, turn: Turn, content: str, now: float, *, whole: bool) -> None:
        turn.last_activity = now
        if whole and turn.chunks:
            return  # already streamed: the reconcile adopts the stored text
        if not whole:
            # a backend slicing text in UTF-16 units can end a chunk with half a character
            content, turn.held_back = turn.held_back + content, ""
            if content and is_high_surrogate(content[-1]):
                content, turn.held_back = content[:-1], content[-1]
            content = repair_text(content)
        if content and turn.first_content_at is None:
            turn.first_content_at = now
        index = len(turn.chunks)
        turn.chunks.append(content)
        if content:
            self._events.append(ChunkReceived(turn.id, content, index, now))

    def _report_user_message(self, turn: Turn) -> None:
        if turn.user_message is not None and not turn.user_message_reported:
            turn.user_message_reported = True
            self._events.append(UserMessageStored(turn.user_message, turn.id))

    # a complete reply whose stored copy cannot be read -------------------------------

    def _reconcile_overdue(self, turn: Turn, now: float) -> bool:
        """Past the grace for reading the stored copy: complete with the text in hand."""
        since = turn.reconcile_since
        if since is None or now < since + self.settings.reconcile_grace_s or not has_text(turn):
            return False
        self._complete_unreconciled(turn, now, "its stored copy could not be read in time")
        return True

    def _complete_unreconciled(self, turn: Turn, now: float, why: str) -> None:
        """The reply is complete but its stored copy was not read: complete the turn with
        the text that arrived (the whole message's id, if one came) and read the history
        again in the background, where the transcript adopts the server's copy."""
        whole = turn.whole_message
        text = whole.content if whole is not None and not turn.chunks else turn.partial_text
        reply = Message(
            id=whole.id if whole is not None else "",
            role="assistant",
            content=text,
            consultation_id=self.consultation_id,
        )
        logger.warning("turn %s completes without its stored copy: %s", turn.id, why)
        self._complete(turn, reply, now)
        self._read_history_later(1)

    def _read_history_later(self, attempt: int) -> None:
        request_id = next(self._request_ids)
        self._background_reads[request_id] = attempt
        delay = self._backoff.ceiling() * attempt
        self._actions.append(FetchHistory(request_id, self._history_tier(), delay, "reconcile"))

    def _background_read_failed(self, request_id: int) -> None:
        attempt = self._background_reads.pop(request_id)
        if attempt < BACKGROUND_READS:
            self._read_history_later(attempt + 1)
        else:
            logger.info("history still unreadable; the next history load reconciles it")

    def _complete(self, turn: Turn, reply: Message, now: float) -> None:
        result = build_reply(turn, reply, self.consultation_id, self.tier, now)
        logger.info(
            "turn %s complete on %s: %d chars, %d chunks",
            turn.id,
            self.tier.value,
            len(reply.content),
            result.chunks,
        )
        if self.tier is Tier.LIVE:
            self._live_proven = True
        self._end_turn()
        self._after_turn("reply complete", now)
        self._events.append(ReplyCompleted(result))


def has_text(turn: Turn) -> bool:
    """Whether the turn holds its reply's text (streamed, or a whole message)."""
    return bool(turn.partial_text) or turn.whole_message is not None


def _from_before(turn: Turn, event: Frame) -> bool:
    """Whether a frame is stamped before the server acknowledged this turn's message: a late
    frame of an earlier reply (server stamps are compared only with server stamps)."""
    began = turn.acknowledged_stamp
    return began is not None and event.stamp is not None and event.stamp < began
