"""How a turn is delivered and finished: send and history results, frames, polls, completion.

A :class:`TurnDelivery` is a part the :class:`lume_widget.core.session.Session` holds (the
session owns the links, tiers, status and the turn in flight; the delivery owns the requests
of that turn). Pure: no I/O, time comes in ``now``.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lume_widget.core.actions import Action, FetchHistory, SendRest
from lume_widget.core.backoff import Decision, classify
from lume_widget.core.errors_map import error_for_status
from lume_widget.core.events import (
    ChunkReceived,
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
from lume_widget.core.polling import PollSchedule, first_gap, poll_gap
from lume_widget.core.transcript import find_turn
from lume_widget.core.turn import (
    MAX_SENDS,
    WAITING_FOR_CONTENT,
    Turn,
    TurnPhase,
    build_reply,
    error_from_frame,
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

if TYPE_CHECKING:
    from lume_widget.core.session import Session

__all__ = ["TurnDelivery", "has_text"]

logger = logging.getLogger("lume_widget.core.session")

P = TurnPhase

BACKGROUND_READS = 8
"""History reads tried after a turn completed without its stored copy."""


class TurnDelivery:
    """Delivers the turns of one :class:`~lume_widget.core.session.Session`: the session holds
    one and hands it the results of requests and the frames; it owns the request bookkeeping."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._own_id = session.consultation_id.lower()
        self._request_ids = itertools.count(1)
        self._pending_requests: set[int] = set()
        self._background_reads: dict[int, int] = {}

    def _act(self, action: Action) -> None:
        self._session._actions.append(action)

    def _tell(self, event: Event) -> None:
        self._session._events.append(event)

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
        self._session._rest_failures = 0
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
        self._session._move(turn, P.RECOVERING)
        if self._session._legacy_delivers():
            return  # the legacy socket delivers the reply; the inactivity deadline guards it
        self.poll(turn, self.poll_gap(turn, now))

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
        verdict = classify(status, retry_after, self._session.settings)
        if verdict.decision is Decision.WAIT:
            logger.info("send rate limited; waiting %.2f s", verdict.wait_s)
            self.send_rest(turn, verdict.wait_s, count=False)
            return
        if verdict.decision is not Decision.RETRY:
            error = error_for_status(status, reason, code=code, unsent_text=turn.text)
            self._session._fail_turn(error, now, reason)
            return
        self._count_rest_failure(turn, reason, now, check_first=True)

    def history_received(
        self, request_id: int, messages: Sequence[Message], now: float, *, start: int = 0
    ) -> None:
        """A history read answered; ``request_id`` 0 is a read the user asked for. ``start``
        is where ``messages`` begin in the whole history (a page read from a turn's baseline)."""
        self._background_reads.pop(request_id, None)
        turn = self._take_request(request_id) if request_id else None
        stale = request_id != 0 and turn is None
        transcript = self._session.transcript
        if start > len(transcript):
            # the transcript got shorter since the page was asked for: it cannot be joined
            if turn is not None:  # (a read the user asked for is whole: start 0)
                self._again(turn, turn.phase or P.RECOVERING, 0.0)
            return
        if transcript.replace_from(start, messages):
            self._tell(HistoryLoaded(transcript.messages))
        if stale or turn is None:
            return
        if turn.phase is not P.CHECKING:
            self._session._rest_failures = (
                0  # a check between failed sends does not prove sends work
            )
        match = find_turn(
            self._session.transcript.messages,
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
                self._session._move(turn, P.RECOVERING)
                self.poll(turn, self.poll_gap(turn, now))
            else:
                self._resend(turn, now)
        elif turn.phase is P.RECONCILING:
            if not self.reconcile_overdue(turn, now):
                self._reconcile(turn, self._session.settings.reconcile_retry_s)
        # A turn's pending history read is a check, a reconcile or a poll: no fourth phase.
        elif turn.phase is P.RECOVERING:  # pragma: no branch
            self.poll(turn, self.poll_gap(turn, now))

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
            self._session._fail_turn(reply_not_stored(turn), now, reason)
            return
        verdict = classify(status, retry_after, self._session.settings)
        phase = turn.phase
        if phase is P.RECONCILING and has_text(turn):
            if verdict.decision is Decision.GIVE_UP:
                self.complete_unreconciled(turn, now, reason)
                return
            if self.reconcile_overdue(turn, now):
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
            self._session._fail_turn(error, now, reason)
            return
        if self._session.tier is Tier.LIVE:
            self._again(turn, phase, self._backoff_delay_for_poll())
            return
        self._count_rest_failure(turn, reason, now, check_first=phase is P.CHECKING)

    def send_rest(self, turn: Turn, delay: float, *, count: bool) -> None:
        self._session._move(turn, P.SENDING)
        if count:
            turn.sends += 1
        request_id = self._new_request(turn)
        self._act(SendRest(request_id, turn.id, self._session.tier, turn.text, delay))

    def _resend(self, turn: Turn, now: float) -> None:
        if turn.sends >= MAX_SENDS:
            self._session._fail_turn(
                ConnectionFailedError(
                    "The message could not be delivered after a retry; it was not stored. "
                    "Send it again when the connection is back.",
                    unsent_text=turn.text,
                ),
                now,
                "delivery failed twice",
            )
            return
        self._session.tiers.dispatch(turn, now)

    def check(self, turn: Turn, delay: float) -> None:
        self._read(turn, delay, "check")

    def poll(self, turn: Turn, delay: float) -> None:
        self._read(turn, delay, "poll")

    def _read(self, turn: Turn, delay: float, purpose: str) -> None:
        """Read the history for ``turn`` from its baseline on: what came before it is held
        already, so a turn costs a page, not the whole consultation."""
        request_id = self._new_request(turn)
        offset = min(turn.baseline, len(self._session.transcript))
        self._act(FetchHistory(request_id, self._history_tier(), delay, purpose, offset))

    def _reconcile(self, turn: Turn, delay: float, now: float | None = None) -> None:
        if turn.phase is not P.RECONCILING:
            self._session._move(turn, P.RECONCILING)
        if turn.reconcile_since is None and now is not None:
            turn.reconcile_since = now
        self._read(turn, delay, "reconcile")

    def _again(self, turn: Turn, phase: TurnPhase, delay: float) -> None:
        if phase is P.CHECKING:
            self.check(turn, delay)
        elif phase is P.RECONCILING:
            self._reconcile(turn, delay)
        else:
            self.poll(turn, delay)

    def _history_tier(self) -> Tier:
        return Tier.LEGACY if self._session.tier is Tier.LEGACY else Tier.REST

    def _new_request(self, turn: Turn) -> int:
        request_id = next(self._request_ids)
        self._pending_requests = {request_id}
        return request_id

    def forget_requests(self) -> None:
        """The turn ended: answers to its requests are stale from now on."""
        self._pending_requests = set()

    def _take_request(self, request_id: int) -> Turn | None:
        if request_id not in self._pending_requests or self._session._turn is None:
            return None
        self._pending_requests.discard(request_id)
        return self._session._turn

    def _poll_schedule(self) -> PollSchedule:
        settings = self._session.settings
        if self._session.tier is Tier.LEGACY:
            return settings.legacy_poll_schedule
        return settings.rest_poll_schedule

    def poll_gap(self, turn: Turn, now: float) -> float:
        """The wait before the turn's next history read: the tier's poll schedule at the time
        since the message was sent (PROTOCOL A4; :mod:`lume_widget.core.polling`)."""
        sent_at = turn.sent_at if turn.sent_at is not None else turn.began_at
        return poll_gap(self._poll_schedule(), now - sent_at)

    def _backoff_delay_for_poll(self) -> float:
        return max(first_gap(self._poll_schedule()), self._session.live.backoff.ceiling())

    def _count_rest_failure(
        self, turn: Turn, reason: str, now: float, *, check_first: bool
    ) -> None:
        self._session._rest_failures += 1
        logger.info(
            "%s failure %d: %s", self._session.tier.value, self._session._rest_failures, reason
        )
        if self._session._rest_failures >= self._session.settings.rest_failure_limit:
            self._session._rest_failures = 0
            if turn.phase is P.SENDING:
                self._session._move(turn, P.CHECKING)
            self._session.tiers.demote(
                f"{self._session.tier.value} failed {self._session.settings.rest_failure_limit} times ({reason})",
                now,
            )
            if (
                self._session._turn is turn
                and turn.phase is P.CHECKING
                and not self._pending_requests
            ):
                self.check(turn, 0.0)
            return
        delay = self._session.live.backoff.ceiling() * min(
            1.0, 0.5 + 0.5 * self._session._rest_failures / 3
        )
        if turn.phase is P.SENDING:
            self._session._move(turn, P.CHECKING)
        if check_first or turn.phase is P.CHECKING:
            self.check(turn, delay)
        else:
            self.poll(turn, delay)

    def handle_frame(self, frame: str | bytes, now: float, *, legacy: bool) -> None:
        batch = parse_frames(frame)
        if batch.skipped:
            self._session.frames_skipped += batch.skipped
            logger.debug("skipped %d unusable frame part(s)", batch.skipped)
        for event in batch.events:
            turn = self._session._turn
            owner = event.consultation_id
            if owner is not None and owner != self._own_id:
                self._session.frames_dropped += 1
                logger.debug("dropped a %s frame of another consultation", event.TYPE)
                continue
            if type(event) is Chunk and turn is not None and turn.phase is not None:
                self._chunk(turn, event, now)  # most frames: straight to their handler
                continue
            if isinstance(event, Pong):
                if not legacy:
                    self._session._pong_due = (
                        None  # the live link answers: the keepalive is satisfied
                    )
                continue
            if turn is None or turn.phase is None:
                if isinstance(event, (Chunk, Completed, FrameError)):
                    self._session.frames_dropped += 1
                    logger.debug("dropped a late %s frame: no reply is in flight", event.TYPE)
                elif isinstance(event, WholeMessage) and event.message is not None:
                    self._adopt_message(event.message)
                continue
            if isinstance(event, Acknowledged):
                if turn.phase is P.SENT:
                    turn.acknowledged = True
                    turn.last_activity = now
                    turn.acknowledged_stamp = parse_timestamp(event.stamp)
                    if turn.acknowledged_stamp is not None and _utc_stamp(event.stamp):
                        turn.acknowledged_stamp_text = event.stamp
                    self._session._move(turn, P.ACKNOWLEDGED)
            elif isinstance(event, Completed):
                if turn.phase in WAITING_FOR_CONTENT:
                    turn.metadata.update(event.metadata)
                    turn.acknowledged = True
                    if not self._complete_from_frame(turn, event, now):
                        self._reconcile(turn, 0.0, now)
            elif isinstance(event, WholeMessage):
                self._handle_message_frame(turn, event.message, now)
            elif isinstance(event, FrameError):
                error, message = error_from_frame(turn, event)
                self._session._fail_turn(error, now, message)
            # Connected: nothing to do

    def _chunk(self, turn: Turn, event: Chunk, now: float) -> None:
        if _from_before(turn, event):
            self._session.frames_dropped += 1
            logger.debug("dropped a stream_chunk stamped before this turn's reply began")
        elif event.content is not None and turn.phase in WAITING_FOR_CONTENT:
            turn.acknowledged = True
            if turn.phase is not P.STREAMING:
                self._session._move(turn, P.STREAMING)
            self._note_content(turn, event.content, now, whole=False)

    def _complete_from_frame(self, turn: Turn, event: Completed, now: float) -> bool:
        """``stream_complete`` carried the stored reply (a backend may add it; the observed one
        does not): when it names the user message it answers, and nothing says it is another
        turn's, the turn completes with it and no history read. False: read the history."""
        stored = event.message
        if stored is None or stored.role != "assistant" or stored.reply_to is None:
            return False
        known = self._session.transcript.messages
        user = turn.user_message
        if (
            _from_before(turn, event)
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
                consultation_id=self._session.consultation_id,
            )
            turn.user_message = user
            self._report_user_message(turn)
        self._session.transcript.add(user)
        self._session.transcript.add(stored)
        self._tell(HistoryLoaded(self._session.transcript.messages))
        self._complete(turn, stored, now)
        return True

    def _adopt_message(self, message: Message) -> None:
        """A whole stored message that is not the reply in flight: show it where it belongs."""
        if self._session.transcript.add(message):
            self._tell(HistoryLoaded(self._session.transcript.messages))

    def _not_this_turns(self, turn: Turn, message: Message) -> bool:
        """Whether a whole assistant message is certainly not the reply ``turn`` waits for."""
        known = self._session.transcript.messages
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
            self._session.frames_skipped += 1
            return
        if message.consultation_id not in (None, self._session.consultation_id.lower()):
            self._session.frames_dropped += 1
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
            self._tell(ChunkReceived(turn.id, content, index, now))

    def _report_user_message(self, turn: Turn) -> None:
        if turn.user_message is not None and not turn.user_message_reported:
            turn.user_message_reported = True
            self._tell(UserMessageStored(turn.user_message, turn.id))

    def end_with(
        self, error: BaseException, now: float, why: str, *, task: str | None = None
    ) -> None:
        """A driver task failed (``task`` names it), or the credentials did (``task`` None,
        ``error`` an :class:`AuthenticationError`): the turn in flight ends at once with the
        error, keeping its text; a reply that is already complete still completes."""
        turn = self._session._turn
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
        self._session._fail_turn(failure, now, why)

    # deadlines -----------------------------------------------------------------

    def deadlines(self, turn: Turn) -> list[float]:
        """When the turn in flight needs a :meth:`tick`: its deadline, inactivity, grace."""
        settings = self._session.settings
        times = [turn.began_at + settings.turn_deadline_s]
        if self._watching_inactivity(turn):
            times.append(turn.last_activity + settings.stream_inactivity_s)
        if turn.phase is P.RECONCILING and turn.reconcile_since is not None and has_text(turn):
            times.append(turn.reconcile_since + settings.reconcile_grace_s)
        return times

    def tick(self, turn: Turn, now: float) -> None:
        """Time passed: enforce the turn's deadline, the reconcile grace and inactivity."""
        settings = self._session.settings
        if now >= turn.began_at + settings.turn_deadline_s:
            problem = f" (last problem: {turn.last_problem})" if turn.last_problem else ""
            self._session._fail_turn(
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
        session = self._session
        return turn.phase is P.RECOVERING and session.tier is Tier.LEGACY and session.legacy.up

    def _stalled(self, turn: Turn, now: float) -> None:
        session = self._session
        reason = f"no reply content for {session.settings.stream_inactivity_s:g} s"
        logger.warning("turn %s stalled: %s", turn.id, reason)
        if session.tier is Tier.LEGACY:
            session._move(turn, P.RECOVERING)
            turn.last_activity = now
            self.poll(turn, 0.0)
            return
        if session.live.up:
            session._actions.append(session.live.close_action(f"stalled: {reason}", abrupt=True))
            session._live_lost(f"stalled: {reason}", now)
        else:  # pragma: no cover - a turn waits for content only while the link is up
            session._move(turn, P.RECOVERING)
            self.poll(turn, 0.0)

    # a complete reply whose stored copy cannot be read -------------------------------

    def reconcile_overdue(self, turn: Turn, now: float) -> bool:
        """Past the grace for reading the stored copy: complete with the text in hand."""
        since = turn.reconcile_since
        if (
            since is None
            or now < since + self._session.settings.reconcile_grace_s
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
            consultation_id=self._session.consultation_id,
        )
        logger.warning("turn %s completes without its stored copy: %s", turn.id, why)
        self._complete(turn, reply, now)
        self._read_history_later(1)

    def _read_history_later(self, attempt: int) -> None:
        request_id = next(self._request_ids)
        self._background_reads[request_id] = attempt
        delay = self._session.live.backoff.ceiling() * attempt
        self._act(FetchHistory(request_id, self._history_tier(), delay, "reconcile"))

    def _background_read_failed(self, request_id: int) -> None:
        attempt = self._background_reads.pop(request_id)
        if attempt < BACKGROUND_READS:
            self._read_history_later(attempt + 1)
        else:
            logger.info("history still unreadable; the next history load reconciles it")

    def _complete(self, turn: Turn, reply: Message, now: float) -> None:
        result = build_reply(turn, reply, self._session.consultation_id, self._session.tier, now)
        logger.info(
            "turn %s complete on %s: %d chars, %d chunks",
            turn.id,
            self._session.tier.value,
            len(reply.content),
            result.chunks,
        )
        if self._session.tier is Tier.LIVE:
            self._session._live_proven = True
        self._session._end_turn()
        self._session._after_turn("reply complete", now)
        self._tell(ReplyCompleted(result))


def has_text(turn: Turn) -> bool:
    """Whether the turn holds its reply's text (streamed, or a whole message)."""
    return bool(turn.partial_text) or turn.whole_message is not None


UTC_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z")
"""The form the backend stamps its frames with (``2025-11-19T14:03:58.151465961Z``): two stamps
of this form and of one length sort as text in time order."""


def _utc_stamp(text: str | None) -> bool:
    return text is not None and UTC_STAMP.fullmatch(text) is not None


def _from_before(turn: Turn, event: Frame) -> bool:
    """Whether a frame is stamped before the server acknowledged this turn's message: a late
    frame of an earlier reply (server stamps are compared only with server stamps).

    Every chunk is compared, so the common case (a stamp written like the acknowledgement's,
    and not earlier) is told from the text alone; anything else is parsed and compared."""
    began = turn.acknowledged_stamp
    text = event.stamp
    if began is None or text is None:
        return False
    began_text = turn.acknowledged_stamp_text
    if (
        began_text is not None
        and len(text) == len(began_text)
        and text >= began_text
        and UTC_STAMP.fullmatch(text) is not None
    ):
        return False
    stamp = parse_timestamp(text)
    return stamp is not None and stamp < began
