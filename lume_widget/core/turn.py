"""A turn in flight: its phases and their legal moves, its record, and the reply it produces.

Part of the session core (:mod:`lume_widget.core.session` drives it): pure data and
functions, no I/O.
"""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

from lume_widget.core.events import Reply, Tier, TierChanged
from lume_widget.core.frames import Frame, FrameError
from lume_widget.core.models import Message
from lume_widget.core.wire import parse_timestamp
from lume_widget.errors import (
    ConsultationNotActiveError,
    IllegalTransition,
    LumeError,
    ServerError,
)
from lume_widget.text import repair_text

__all__ = [
    "MAX_SENDS",
    "PHASE_MOVES",
    "UTC_STAMP",
    "WAITING_FOR_CONTENT",
    "IllegalTransition",
    "KeptText",
    "Turn",
    "TurnPhase",
    "build_reply",
    "error_from_frame",
    "from_before",
    "has_text",
    "is_utc_stamp",
    "move",
    "reply_not_stored",
]

logger = logging.getLogger("lume_widget.core.session")


class TurnPhase(enum.Enum):
    """Where the turn in flight stands."""

    # Members are singletons compared by identity: hash them by identity too, in C (Enum's
    # own hash is a Python call, and a phase is looked up in a set on every frame).
    __hash__ = object.__hash__

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

PHASE_MOVES: dict[TurnPhase | None, frozenset[TurnPhase]] = {
    # RECOVERING: the initial message, stored when the consultation was created, awaits its answer
    None: frozenset({P.PROBING, P.WAITING_LINK, P.SENDING, P.SENT, P.RECOVERING}),
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


def move(turn: Turn, phase: TurnPhase) -> None:
    """Move ``turn`` to ``phase`` if :data:`PHASE_MOVES` allows it, else raise
    :class:`IllegalTransition` and leave the turn as it was."""
    if phase not in PHASE_MOVES[turn.phase]:
        raise IllegalTransition(
            f"turn cannot move from {turn.phase and turn.phase.value} to {phase.value}"
        )
    logger.debug("turn %s: %s -> %s", turn.id, turn.phase and turn.phase.value, phase.value)
    turn.phase = phase


WAITING_FOR_CONTENT = frozenset({P.SENT, P.ACKNOWLEDGED, P.STREAMING})
MAX_SENDS = 8


class KeptText(TypedDict):
    """The keyword arguments that keep a turn's text in the error ending it."""

    unsent_text: str | None
    partial_text: str


@dataclass(slots=True)
class Turn:
    """The record of one turn: what was sent, what arrived, and the numbers of its reply."""

    id: str
    text: str
    began_at: float
    wall_start: datetime | None
    baseline: int
    """Messages in the server's whole history when the turn began (the transcript's end)."""
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
    rounds: int = 0
    """How many times every tier failed and the turn started again from live."""
    tier_changes: list[TierChanged] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    whole_message: Message | None = None
    last_problem: str = ""
    last_status: int | None = None
    acknowledged_stamp: datetime | None = None
    """The server's timestamp on ``message_received`` for this turn's message, if it sent one."""
    acknowledged_stamp_text: str | None = None
    """That timestamp as written, when it has the fixed-width UTC form (see ``UTC_STAMP``)."""
    held_back: str = ""
    """The first half of a UTF-16 pair that ended the last chunk, joined with the next one."""
    reconcile_since: float | None = None
    """When the reply was complete and the first read of its stored copy was asked for."""

    @property
    def unsent_text(self) -> str | None:
        """The user's text while the server may not have it (None once acknowledged)."""
        return None if self.acknowledged else self.text

    def kept(self) -> KeptText:
        """What an error ending this turn keeps: the unsent text and the partial reply."""
        return {"unsent_text": self.unsent_text, "partial_text": self.partial_text}

    @property
    def partial_text(self) -> str:
        """What arrived of the reply, as valid Unicode (a half character held back shows as U+FFFD)."""
        return "".join(self.chunks) + repair_text(self.held_back)


def build_reply(turn: Turn, reply: Message, consultation_id: str, tier: Tier, now: float) -> Reply:
    """The Reply of a finished turn, with its metrics (``turn.first_content_at`` is set here if unset)."""
    if turn.first_content_at is None:
        turn.first_content_at = now
    sent_at = turn.sent_at if turn.sent_at is not None else turn.began_at
    metadata = dict(turn.metadata)
    if reply.tokens_used is not None:
        metadata.setdefault("tokens_used", reply.tokens_used)
    if reply.processing_time_ms is not None:
        metadata.setdefault("processing_time_ms", reply.processing_time_ms)
    return Reply(
        text=reply.content,
        message_id=reply.id,
        consultation_id=consultation_id,
        user_message_id=None if turn.user_message is None else turn.user_message.id,
        tier=tier,
        ttft_s=max(0.0, turn.first_content_at - sent_at),
        duration_s=max(0.0, now - sent_at),
        chunks=max(1, len([c for c in turn.chunks if c])),
        reconnects=turn.reconnects,
        tier_changes=tuple(turn.tier_changes),
        started_at=turn.wall_start,
        metadata=metadata,
        turn_id=turn.id,
    )


def error_from_frame(turn: Turn, event: FrameError) -> tuple[LumeError, str]:
    """The error a WebSocket ``error`` frame means for ``turn``, and the server's text."""
    message = event.error or "the server reported an error"
    code = event.code
    if code == "CONSULTATION_NOT_ACTIVE":
        return (
            ConsultationNotActiveError(
                "This consultation is no longer active; start a new one to keep chatting.",
                code=str(code),
                **turn.kept(),
            ),
            message,
        )
    if code == "REPLY_NOT_STORED":
        return (reply_not_stored(turn), message)
    return (
        ServerError(
            f"The server could not produce a reply: {message}. Send the message again.",
            code=code if isinstance(code, str) else None,
            **turn.kept(),
        ),
        message,
    )


def reply_not_stored(turn: Turn) -> ServerError:
    """The backend generated the reply but could not store it (it keeps trying)."""
    return ServerError(
        "The backend generated the reply but could not store it; what arrived is kept, and the "
        "stored copy may appear in the history later. Reload the history in a moment, or send "
        "the message again.",
        code="REPLY_NOT_STORED",
        partial_text=turn.partial_text,
    )


def has_text(turn: Turn) -> bool:
    """Whether the turn holds its reply's text (streamed, or a whole message)."""
    return bool(turn.partial_text) or turn.whole_message is not None


UTC_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z")
"""The form the backend stamps its frames with (``2025-11-19T14:03:58.151465961Z``): two stamps
of this form and of one length sort as text in time order."""


def is_utc_stamp(text: str | None) -> bool:
    """Whether ``text`` is a stamp of the :data:`UTC_STAMP` form."""
    return text is not None and UTC_STAMP.fullmatch(text) is not None


def from_before(turn: Turn, event: Frame) -> bool:
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
