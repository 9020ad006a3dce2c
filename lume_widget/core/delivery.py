"""How a turn is delivered and finished: send and history results, frames, deadlines, completion.

A :class:`TurnDelivery` is a part of a session: it sees the session through a
:class:`~lume_widget.core.context.SessionContext`, asks for I/O through its
:class:`~lume_widget.core.requests.TurnRequests` and leaves the choice of tier to its
:class:`~lume_widget.core.tiers.TierPolicy`. It owns what the turn in flight does with an
answer: the send's acknowledgement, a history page, a frame, a deadline passing. Pure: no
I/O, time comes in ``now``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from lume_widget.core.backoff import Decision, classify
from lume_widget.core.context import SessionContext
from lume_widget.core.errors_map import error_for_status
from lume_widget.core.events import (
    ChunkReceived,
    HistoryLoaded,
    ReplyCompleted,
    Tier,
    UserMessageStored,
)
from lume_widget.core.frames import (
    Acknowledged,
    Chunk,
    Completed,
    FrameError,
    Pong,
    WholeMessage,
)
from lume_widget.core.models import Message
from lume_widget.core.requests import TurnRequests
from lume_widget.core.tiers import TierPolicy
from lume_widget.core.transcript import find_turn
from lume_widget.core.turn import (
    MAX_SENDS,
    WAITING_FOR_CONTENT,
    Turn,
    TurnPhase,
    build_reply,
    error_from_frame,
    from_before,
    has_text,
    is_utc_stamp,
    move,
    reply_not_stored,
)
from lume_widget.core.wire import parse_frames, parse_timestamp
from lume_widget.errors import (
    AuthenticationError,
    ConnectionFailedError,
    LumeError,
    TurnTimeoutError,
)
from lume_widget.text import is_high_surrogate, repair_text

__all__ = ["TurnDelivery"]

logger = logging.getLogger("lume_widget.core.session")

P = TurnPhase


class TurnDelivery:
    """Delivers the turns of one :class:`~lume_widget.core.session.Session`: the session holds
    one and hands it the results of requests and the frames; it owns the request bookkeeping."""

    def __init__(self, ctx: SessionContext, requests: TurnRequests, tiers: TierPolicy) -> None:
        self._ctx = ctx
        self._requests = requests
        self._tiers = tiers
        self._own_id = ctx.consultation_id.lower()
        self.frames_skipped = 0
        """Frame parts that could not be used (not JSON, no type, ...)."""
        self.frames_dropped = 0
        """Frames of another consultation, or late ones of a finished reply (logged at debug)."""

    # results of requests --------------------------------------------------------

    def send_succeeded(
        self,
        request_id: int,
        user_message: Message | None,
        assistant_message: Message | None,
        now: float,
    ) -> None:
        """A POST of the user's message was accepted (200, 201 or 202)."""
        turn = self._requests.take(request_id)
        if turn is None or turn.phase is not P.SENDING:
            return
        self._tiers.rest_succeeded()
        turn.acknowledged = True
        turn.last_activity = now
        if user_message is not None:
            turn.user_message = user_message
            self._report_user_message(turn)
        assistant_message = assistant_message or turn.whole_message
        if assistant_message is not None:
            turn.whole_message = assistant_message
            self._note_content(turn, assistant_message.content, now, whole=True)
            self._requests.reconcile(turn, 0.0, now)
            return
        move(turn, P.RECOVERING)
        if self._ctx.legacy_delivers:
            return  # the legacy socket delivers the reply; the inactivity deadline guards it
        self._requests.poll(turn, self._requests.poll_gap(turn, now))

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
        turn = self._requests.take(request_id)
        if turn is None or turn.phase is not P.SENDING:
            return
        turn.last_problem = reason
        turn.last_status = status
        verdict = classify(status, retry_after, self._ctx.settings)
        if verdict.decision is Decision.WAIT:
            logger.info("send rate limited; waiting %.2f s", verdict.wait_s)
            self._requests.send_rest(turn, verdict.wait_s, count=False)
            return
        if verdict.decision is not Decision.RETRY:
            error = error_for_status(status, reason, code=code, unsent_text=turn.text)
            self._ctx.moves.fail_turn(error, now, reason)
            return
        self._tiers.rest_failed(turn, reason, now, check_first=True)

    def history_received(
        self, request_id: int, messages: Sequence[Message], now: float, *, start: int = 0
    ) -> None:
        """A history read answered; ``request_id`` 0 is a read the user asked for. ``start``
        is where ``messages`` begin in the whole history (a page read from a turn's baseline)."""
        self._requests.background_answered(request_id)
        turn = self._requests.take(request_id) if request_id else None
        stale = request_id != 0 and turn is None
        transcript = self._ctx.transcript
        if start > transcript.end:
            # the transcript got shorter since the page was asked for: it cannot be joined
            if turn is not None:  # (a read the user asked for is whole: start 0)
                self._requests.again(turn, turn.phase or P.RECOVERING, 0.0)
            return
        if transcript.replace_from(start, messages):
            self._ctx.tell(HistoryLoaded(transcript.messages))
        after = self._match_unmatched()
        if stale or turn is None:
            return
        if turn.phase is not P.CHECKING:
            self._tiers.rest_succeeded()  # a check between failed sends does not prove sends work
        self._match(turn, now, after)

    def _match(self, turn: Turn, now: float, after: int = 0) -> None:
        """Find ``turn`` in the transcript (from ``after`` on at the earliest: the messages
        before are earlier turns'): its user message, its reply; else ask again."""
        match = find_turn(
            self._ctx.transcript.messages,
            turn.text,
            max(turn.baseline - self._ctx.transcript.offset, after),
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
                move(turn, P.RECOVERING)
                self._requests.poll(turn, self._requests.poll_gap(turn, now))
            else:
                self._resend(turn, now)
        elif turn.phase is P.RECONCILING:
            if not self.reconcile_overdue(turn, now):
                self._requests.reconcile(turn, self._ctx.settings.reconcile_retry_s)
        # A turn's pending history read is a check, a reconcile or a poll: no fourth phase.
        elif turn.phase is P.RECOVERING:  # pragma: no branch
            self._requests.poll(turn, self._requests.poll_gap(turn, now))

    def take_history(self, turn: Turn, now: float) -> None:
        """Look for ``turn`` (acknowledged, recovering) in the transcript held: complete it if
        its reply is there, else poll the history for it."""
        self._match(turn, now, self._match_unmatched())

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
        if self._requests.background_failed(request_id):
            return
        turn = self._requests.take(request_id)
        if turn is None or turn.phase not in (P.CHECKING, P.RECOVERING, P.RECONCILING):
            return
        turn.last_problem = reason
        turn.last_status = status
        if code == "REPLY_NOT_STORED":
            self._ctx.moves.fail_turn(reply_not_stored(turn), now, reason)
            return
        verdict = classify(status, retry_after, self._ctx.settings)
        phase = turn.phase
        if phase is P.RECONCILING and has_text(turn):
            if verdict.decision is Decision.GIVE_UP:
                self.complete_unreconciled(turn, now, reason)
                return
            if self.reconcile_overdue(turn, now):
                return
        if verdict.decision is Decision.WAIT:
            self._requests.again(turn, phase, verdict.wait_s)
            return
        if verdict.decision is not Decision.RETRY:
            error = error_for_status(
                status,
                reason,
                code=code,
                **turn.kept(),
            )
            self._ctx.moves.fail_turn(error, now, reason)
            return
        if self._ctx.tier is Tier.LIVE:
            self._requests.again(turn, phase, self._requests.backoff_delay_for_poll())
            return
        self._tiers.rest_failed(turn, reason, now, check_first=phase is P.CHECKING)

    def _resend(self, turn: Turn, now: float) -> None:
        if turn.sends >= MAX_SENDS:
            self._ctx.moves.fail_turn(
                ConnectionFailedError(
                    "The message could not be delivered after a retry; it was not stored. "
                    "Send it again when the connection is back.",
                    unsent_text=turn.text,
                ),
                now,
                "delivery failed twice",
            )
            return
        self._tiers.dispatch(turn, now)

    def handle_frame(self, frame: str | bytes, now: float, *, legacy: bool) -> None:
        batch = parse_frames(frame)
        if batch.skipped:
            self.frames_skipped += batch.skipped
            logger.debug("skipped %d unusable frame part(s)", batch.skipped)
        for event in batch.events:
            turn = self._ctx.turn
            owner = event.consultation_id
            if owner is not None and owner != self._own_id:
                self.frames_dropped += 1
                logger.debug("dropped a %s frame of another consultation", event.TYPE)
                continue
            if type(event) is Chunk and turn is not None and turn.phase is not None:
                self._chunk(turn, event, now)  # most frames: straight to their handler
                continue
            if isinstance(event, Pong):
                if not legacy:
                    self._ctx.moves.pong_received()  # the live link answers the keepalive
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
                    turn.acknowledged_stamp = parse_timestamp(event.stamp)
                    if turn.acknowledged_stamp is not None and is_utc_stamp(event.stamp):
                        turn.acknowledged_stamp_text = event.stamp
                    move(turn, P.ACKNOWLEDGED)
            elif isinstance(event, Completed):
                if turn.phase in WAITING_FOR_CONTENT:
                    turn.metadata.update(event.metadata)
                    turn.acknowledged = True
                    if self._complete_from_frame(turn, event, now):
                        continue
                    if not self._ctx.settings.await_stored_reply and turn.partial_text:
                        self._complete_streamed(turn, now)
                    else:
                        self._requests.reconcile(turn, 0.0, now)
            elif isinstance(event, WholeMessage):
                self._handle_message_frame(turn, event.message, now)
            elif isinstance(event, FrameError):
                error, message = error_from_frame(turn, event)
                self._ctx.moves.fail_turn(error, now, message)
            # Connected: nothing to do

    def _chunk(self, turn: Turn, event: Chunk, now: float) -> None:
        if from_before(turn, event):
            self.frames_dropped += 1
            logger.debug("dropped a stream_chunk stamped before this turn's reply began")
        elif event.content is not None and turn.phase in WAITING_FOR_CONTENT:
            turn.acknowledged = True
            if turn.phase is not P.STREAMING:
                move(turn, P.STREAMING)
            self._note_content(turn, event.content, now, whole=False)

    def _complete_from_frame(self, turn: Turn, event: Completed, now: float) -> bool:
        """``stream_complete`` carried the stored reply (a backend may add it; the observed one
        does not): when it names the user message it answers, and nothing says it is another
        turn's, the turn completes with it and no history read. False: read the history."""
        stored = event.message
        if stored is None or stored.role != "assistant" or stored.reply_to is None:
            return False
        known = self._ctx.transcript.messages
        user = turn.user_message
        if (
            from_before(turn, event)
            or stored.consultation_id not in (None, self._own_id)
            or (user is not None and user.id != stored.reply_to)
            or any(m.id in (stored.id, stored.reply_to) for m in known)  # an earlier turn's
        ):
            return False
        if user is None:
            user = Message(
                id=stored.reply_to,
                role="user",
                content=turn.text,
                consultation_id=self._ctx.consultation_id,
            )
            turn.user_message = user
            self._report_user_message(turn)
        self._ctx.transcript.add(user)
        self._ctx.transcript.add(stored)
        self._ctx.tell(HistoryLoaded(self._ctx.transcript.messages))
        self._complete(turn, stored, now)
        return True

    def _complete_streamed(self, turn: Turn, now: float) -> None:
        """The streamed reply is complete and its stored copy is not awaited
        (``await_stored_reply`` off): the turn completes with the text that streamed and an
        empty id; the next history read matches it to its stored copy."""
        reply = Message(
            id="",
            role="assistant",
            content=turn.partial_text,
            consultation_id=self._ctx.consultation_id,
        )
        self._requests.completed_unmatched(turn)
        self._complete(turn, reply, now)

    def _match_unmatched(self) -> int:
        """Find the turns that completed with their streamed text in the transcript just read,
        oldest first, each after the one before (by content and order, as a turn's own read
        finds it); those found are done. Returns where the messages after the last one found
        begin in the transcript (0 when none waited), so a turn in flight with the same text
        is never matched to an earlier one's messages."""
        waiting = self._requests.unmatched
        if not waiting:
            return 0
        transcript = self._ctx.transcript
        messages = transcript.messages
        position = 0
        for count, earlier in enumerate(waiting):
            match = find_turn(
                messages,
                earlier.text,
                max(earlier.baseline - transcript.offset, position),
                earlier.user_message_id,
                earlier.reply,
            )
            found = match.reply or match.user_message
            if found is not None:
                position = next(i for i, m in enumerate(messages) if m is found) + 1
            if match.reply is None:
                del waiting[:count]  # this one and those after it wait for a later read
                return position
        waiting.clear()
        return position

    def _adopt_message(self, message: Message) -> None:
        """A whole stored message that is not the reply in flight: show it where it belongs."""
        if self._ctx.transcript.add(message):
            self._ctx.tell(HistoryLoaded(self._ctx.transcript.messages))

    def _not_this_turns(self, turn: Turn, message: Message) -> bool:
        """Whether a whole assistant message is certainly not the reply ``turn`` waits for."""
        known = self._ctx.transcript.messages
        if any(m.id == message.id for m in known):
            return True  # known before: a late frame of an earlier turn
        if message.reply_to is None:
            return False
        if turn.user_message is not None:
            return message.reply_to != turn.user_message.id
        # it answers a message shown before this turn began (an initial message, a stopped turn)
        before = known[: max(0, turn.baseline - self._ctx.transcript.offset)]
        return any(m.id == message.reply_to for m in before)

    def _handle_message_frame(self, turn: Turn, message: Message | None, now: float) -> None:
        if message is None:
            self.frames_skipped += 1
            return
        if message.consultation_id not in (None, self._ctx.consultation_id.lower()):
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
        self._requests.reconcile(turn, 0.0, now)

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
            self._ctx.tell(ChunkReceived(turn.id, content, index, now))

    def _report_user_message(self, turn: Turn) -> None:
        if turn.user_message is not None and not turn.user_message_reported:
            turn.user_message_reported = True
            self._ctx.tell(UserMessageStored(turn.user_message, turn.id))

    def end_with(
        self, error: BaseException, now: float, why: str, *, task: str | None = None
    ) -> None:
        """A driver task failed (``task`` names it), or the credentials did (``task`` None,
        ``error`` an :class:`AuthenticationError`): the turn in flight ends at once with the
        error, keeping its text; a reply that is already complete still completes."""
        turn = self._ctx.turn
        assert turn is not None
        if turn.phase is P.RECONCILING and has_text(turn):
            self.complete_unreconciled(turn, now, why)
            return
        failure: LumeError
        if task is None and isinstance(error, AuthenticationError):
            failure = AuthenticationError(
                error.message, status=error.status, code=error.code, **turn.kept()
            )
        elif isinstance(error, LumeError):
            error.unsent_text = error.unsent_text or turn.unsent_text
            error.partial_text = error.partial_text or turn.partial_text
            failure = error
        else:
            failure = LumeError(
                f"The client failed while delivering the message ({task}: "
                f"{type(error).__name__}); what arrived is kept. Send it again.",
                **turn.kept(),
            )
        self._ctx.moves.fail_turn(failure, now, why)

    # deadlines -----------------------------------------------------------------

    def deadlines(self, turn: Turn) -> list[float]:
        """When the turn in flight needs a :meth:`tick`: its deadline, inactivity, grace."""
        settings = self._ctx.settings
        times = [turn.began_at + settings.turn_deadline_s]
        if self._watching_inactivity(turn):
            times.append(turn.last_activity + settings.stream_inactivity_s)
        if turn.phase is P.RECONCILING and turn.reconcile_since is not None and has_text(turn):
            times.append(turn.reconcile_since + settings.reconcile_grace_s)
        return times

    def tick(self, turn: Turn, now: float) -> None:
        """Time passed: enforce the turn's deadline, the reconcile grace and inactivity."""
        settings = self._ctx.settings
        if now >= turn.began_at + settings.turn_deadline_s:
            problem = f" (last problem: {turn.last_problem})" if turn.last_problem else ""
            self._ctx.moves.fail_turn(
                TurnTimeoutError(
                    f"No complete reply within {settings.turn_deadline_s:g} s{problem}; "
                    "what arrived is kept. Try again, or pin another tier if this one keeps "
                    "failing.",
                    **turn.kept(),
                ),
                now,
                "turn deadline passed",
            )
        elif turn.phase is P.RECONCILING:
            self.reconcile_overdue(turn, now)
        elif (
            self._watching_inactivity(turn)
            and now >= turn.last_activity + settings.stream_inactivity_s
        ):
            self._stalled(turn, now)

    def _watching_inactivity(self, turn: Turn) -> bool:
        if turn.phase in WAITING_FOR_CONTENT:
            return True
        session = self._ctx
        return turn.phase is P.RECOVERING and session.tier is Tier.LEGACY and session.legacy.up

    def _stalled(self, turn: Turn, now: float) -> None:
        session = self._ctx
        reason = f"no reply content for {session.settings.stream_inactivity_s:g} s"
        logger.warning("turn %s stalled: %s", turn.id, reason)
        if session.tier is Tier.LEGACY:
            move(turn, P.RECOVERING)
            turn.last_activity = now
            self._requests.poll(turn, 0.0)
            return
        if session.live.up:
            session.act(session.live.close_action(f"stalled: {reason}", abrupt=True))
            session.moves.live_lost(f"stalled: {reason}", now)
        else:  # pragma: no cover - a turn waits for content only while the link is up
            move(turn, P.RECOVERING)
            self._requests.poll(turn, 0.0)

    # a complete reply whose stored copy cannot be read -------------------------------

    def reconcile_overdue(self, turn: Turn, now: float) -> bool:
        """Past the grace for reading the stored copy: complete with the text in hand."""
        since = turn.reconcile_since
        if (
            since is None
            or now < since + self._ctx.settings.reconcile_grace_s
            or not has_text(turn)
        ):
            return False
        self.complete_unreconciled(turn, now, "its stored copy could not be read in time")
        return True

    def complete_unreconciled(self, turn: Turn, now: float, why: str) -> None:
        """The reply is complete but its stored copy was not read: complete the turn with
        the text that arrived (the whole message's id, if one came) and read the history
        again in the background, where the transcript adopts the server's copy."""
        whole = turn.whole_message
        text = whole.content if whole is not None and not turn.chunks else turn.partial_text
        reply = Message(
            id=whole.id if whole is not None else "",
            role="assistant",
            content=text,
            consultation_id=self._ctx.consultation_id,
        )
        logger.warning("turn %s completes without its stored copy: %s", turn.id, why)
        self._complete(turn, reply, now)
        self._requests.read_history_later(1)

    def _complete(self, turn: Turn, reply: Message, now: float) -> None:
        result = build_reply(turn, reply, self._ctx.consultation_id, self._ctx.tier, now)
        logger.info(
            "turn %s complete on %s: %d chars, %d chunks",
            turn.id,
            self._ctx.tier.value,
            len(reply.content),
            result.chunks,
        )
        if self._ctx.tier is Tier.LIVE:
            self._tiers.live_proven = True
        self._ctx.moves.finish_turn("reply complete", now)
        self._ctx.tell(ReplyCompleted(result))
