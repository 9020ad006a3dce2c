"""The requests of the turn in flight: sends by REST, history reads, and which answers count.

A :class:`TurnRequests` is a part of a session (it sees the session through a
:class:`~lume_widget.core.context.SessionContext`). It queues the :class:`SendRest` and
:class:`FetchHistory` actions of a turn, names each with a request id, and tells which answer
belongs to the turn in flight: only the last request asked for does; an answer to an earlier
one, or to a turn that is over, is stale. It also keeps the background reads of a reply that
completed without its stored copy, and the replies that completed with their streamed text
and wait for the next history read to be matched to their stored copies
(``Settings.await_stored_reply`` off). Pure: no I/O, time comes in ``now``.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

from lume_widget.core.actions import FetchHistory, SendRest
from lume_widget.core.context import SessionContext
from lume_widget.core.events import Tier
from lume_widget.core.polling import PollSchedule, first_gap, poll_gap
from lume_widget.core.turn import Turn, TurnPhase, move

__all__ = ["BACKGROUND_READS", "UNMATCHED_LIMIT", "TurnRequests", "Unmatched"]

logger = logging.getLogger("lume_widget.core.session")

P = TurnPhase

BACKGROUND_READS = 8
"""History reads tried after a turn completed without its stored copy."""

UNMATCHED_LIMIT = 32
"""Replies completed with their streamed text that may wait for the next history read; one
more asks for a read to catch up (from the oldest one's start: their messages fit one page)."""


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A turn that completed with its streamed text and is not yet matched to its stored copy:
    enough to find its messages in a history read by content and order."""

    text: str
    """The user's message."""
    reply: str
    """The reply as streamed."""
    baseline: int
    """Messages in the whole history when the turn began."""
    user_message_id: str | None


class TurnRequests:
    """Issues the turn's sends and history reads and matches their answers to it."""

    def __init__(self, ctx: SessionContext) -> None:
        self._ctx = ctx
        self._request_ids = itertools.count(1)
        self._pending: set[int] = set()
        self._background: dict[int, int] = {}
        self.unmatched: list[Unmatched] = []
        """Turns completed with their streamed text, oldest first, waiting for a history read."""

    @property
    def pending(self) -> bool:
        """Whether a request of the turn in flight awaits its answer."""
        return bool(self._pending)

    def send_rest(self, turn: Turn, delay: float, *, count: bool) -> None:
        """POST the turn's message after ``delay`` (``count``: a send, not a wait)."""
        move(turn, P.SENDING)
        if count:
            turn.sends += 1
        request_id = self._new()
        self._ctx.act(SendRest(request_id, turn.id, self._ctx.tier, turn.text, delay))

    def check(self, turn: Turn, delay: float) -> None:
        """Look in the history for the turn's message before sending it (again)."""
        self._read(turn, delay, "check")

    def poll(self, turn: Turn, delay: float) -> None:
        """Read the history for the turn's reply."""
        self._read(turn, delay, "poll")

    def reconcile(self, turn: Turn, delay: float, now: float | None = None) -> None:
        """Read the stored copy of a reply that arrived whole (``now``: when it did)."""
        if turn.phase is not P.RECONCILING:
            move(turn, P.RECONCILING)
        if turn.reconcile_since is None and now is not None:
            turn.reconcile_since = now
        self._read(turn, delay, "reconcile")

    def again(self, turn: Turn, phase: TurnPhase, delay: float) -> None:
        """Repeat the read a turn in ``phase`` makes."""
        if phase is P.CHECKING:
            self.check(turn, delay)
        elif phase is P.RECONCILING:
            self.reconcile(turn, delay)
        else:
            self.poll(turn, delay)

    def _read(self, turn: Turn, delay: float, purpose: str) -> None:
        """Read the history for ``turn`` from its baseline on: what came before it is held
        already, so a turn costs a page, not the whole consultation."""
        request_id = self._new()
        offset = min(turn.baseline, self._ctx.transcript.end)
        self._ctx.act(FetchHistory(request_id, self._history_tier(), delay, purpose, offset))

    def _history_tier(self) -> Tier:
        return Tier.LEGACY if self._ctx.tier is Tier.LEGACY else Tier.REST

    def _new(self) -> int:
        request_id = next(self._request_ids)
        self._pending = {request_id}
        return request_id

    def forget(self) -> None:
        """The turn ended: answers to its requests are stale from now on."""
        self._pending = set()

    def take(self, request_id: int) -> Turn | None:
        """The turn in flight if ``request_id`` is its pending request, else None (stale)."""
        if request_id not in self._pending or self._ctx.turn is None:
            return None
        self._pending.discard(request_id)
        return self._ctx.turn

    # when to ask ------------------------------------------------------------------

    def _poll_schedule(self) -> PollSchedule:
        settings = self._ctx.settings
        if self._ctx.tier is Tier.LEGACY:
            return settings.legacy_poll_schedule
        return settings.rest_poll_schedule

    def poll_gap(self, turn: Turn, now: float) -> float:
        """The wait before the turn's next history read: the tier's poll schedule at the time
        since the message was sent (PROTOCOL A4; :mod:`lume_widget.core.polling`)."""
        sent_at = turn.sent_at if turn.sent_at is not None else turn.began_at
        return poll_gap(self._poll_schedule(), now - sent_at)

    def backoff_delay_for_poll(self) -> float:
        """The wait before a history read again after it failed while on live."""
        return max(first_gap(self._poll_schedule()), self._ctx.live.backoff.ceiling())

    # reads in the background ---------------------------------------------------------

    def read_history_later(self, attempt: int) -> None:
        """Read the history in the background (``attempt`` of :data:`BACKGROUND_READS`), so
        the transcript adopts a completed reply's stored copy."""
        request_id = next(self._request_ids)
        self._background[request_id] = attempt
        delay = self._ctx.live.backoff.ceiling() * attempt
        self._ctx.act(FetchHistory(request_id, self._history_tier(), delay, "reconcile"))

    def background_answered(self, request_id: int) -> None:
        """A read answered: if it was a background one, it is done."""
        self._background.pop(request_id, None)

    def background_failed(self, request_id: int) -> bool:
        """A read failed: False if it was not a background one; else try again later, up
        to :data:`BACKGROUND_READS` times."""
        attempt = self._background.pop(request_id, None)
        if attempt is None:
            return False
        if attempt < BACKGROUND_READS:
            self.read_history_later(attempt + 1)
        else:
            logger.info("history still unreadable; the next history load reconciles it")
        return True

    # replies completed with their streamed text ---------------------------------------

    def completed_unmatched(self, turn: Turn) -> None:
        """``turn`` completed with its streamed text: match it on the next history read; past
        :data:`UNMATCHED_LIMIT` waiting, read now (in the background) to catch up."""
        user_id = None if turn.user_message is None else turn.user_message.id
        self.unmatched.append(Unmatched(turn.text, turn.partial_text, turn.baseline, user_id))
        if len(self.unmatched) > UNMATCHED_LIMIT and not self._background:
            request_id = next(self._request_ids)
            self._background[request_id] = BACKGROUND_READS  # tried once; a later read matches
            offset = min(min(u.baseline for u in self.unmatched), self._ctx.transcript.end)
            self._ctx.act(FetchHistory(request_id, self._history_tier(), 0.0, "catch up", offset))
