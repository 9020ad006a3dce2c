"""Events a consultation reports, named as facts, plus the tier and status vocabularies.

Every face (widget, evaluation, terminal) consumes these and nothing else. They are
frozen, slotted dataclasses; ``at`` fields are seconds on the session's clock
(``time.monotonic`` unless a test injects another), while datetimes in messages and
replies are wall-clock UTC.

``Event`` is the union of all of them, so a consumer can ``match`` exhaustively.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

from lume_widget.core.models import Message
from lume_widget.errors import InvalidInputError, LumeError

__all__ = [
    "ChunkReceived",
    "ConnectionStatus",
    "Event",
    "HistoryLoaded",
    "Message",
    "Reply",
    "ReplyCompleted",
    "StatusChanged",
    "Tier",
    "TierChanged",
    "TurnFailed",
    "UserMessageStored",
]


class Tier(str, enum.Enum):
    """How a turn is delivered, best first (PROTOCOL A4)."""

    LIVE = "live"
    REST = "rest"
    LEGACY = "legacy"

    @property
    def rank(self) -> int:
        """0 for live, 1 for rest, 2 for legacy: higher is further from the best tier."""
        return _TIER_ORDER.index(self)

    def below(self) -> Tier | None:
        """The next tier to fall back to, or None from legacy."""
        index = self.rank + 1
        return _TIER_ORDER[index] if index < len(_TIER_ORDER) else None

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, tier: Tier | str | None) -> Tier | None:
        """A Tier from a Tier or its name (any case); None or "" means automatic."""
        if tier is None or tier == "":
            return None
        if isinstance(tier, Tier):
            return tier
        try:
            return cls(str(tier).strip().lower())
        except ValueError:
            raise InvalidInputError(unknown_tier(tier)) from None


def unknown_tier(tier: Any) -> str:
    """The one wording, everywhere, for a tier that is not live, rest or legacy."""
    return f"Unknown tier {tier!r}; pin one of live, rest or legacy, or none for automatic."


_TIER_ORDER: tuple[Tier, ...] = (Tier.LIVE, Tier.REST, Tier.LEGACY)


class ConnectionStatus(str, enum.Enum):
    """What a user should be told about the link (PROTOCOL A4)."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    DEGRADED = "degraded"
    OFFLINE = "offline"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """The connection status moved from ``previous`` to ``status`` because of ``reason``."""

    status: ConnectionStatus
    previous: ConnectionStatus | None
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class TierChanged:
    """The consultation moved from tier ``previous`` to ``tier`` because of ``reason``."""

    tier: Tier
    previous: Tier | None
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class UserMessageStored:
    """The server holds this copy of the user's message (its id is the server's)."""

    message: Message
    turn_id: str = ""


@dataclass(frozen=True, slots=True)
class ChunkReceived:
    """A piece of the reply to turn ``turn_id``; ``index`` counts from 0 within the turn."""

    turn_id: str
    text: str
    index: int
    at: float


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete reply and how it was delivered.

    ``text`` and ``message_id`` are the server's stored copy (reconciled after
    streaming). ``ttft_s`` is the time from sending to the first frame carrying reply
    content (control frames do not count); ``duration_s`` from sending to completion.
    ``reconnects`` counts live links re-opened during the turn and ``tier_changes``
    lists every tier move that happened while it was in flight.
    """

    text: str
    message_id: str
    consultation_id: str
    user_message_id: str | None
    tier: Tier
    ttft_s: float | None
    duration_s: float
    chunks: int
    reconnects: int = 0
    tier_changes: tuple[TierChanged, ...] = ()
    started_at: datetime | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    turn_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready summary the CLI and evaluations print."""
        return {
            "reply": self.text,
            "message_id": self.message_id,
            "consultation_id": self.consultation_id,
            "user_message_id": self.user_message_id,
            "tier": self.tier.value,
            "ttft_s": None if self.ttft_s is None else round(self.ttft_s, 4),
            "duration_s": round(self.duration_s, 4),
            "chunks": self.chunks,
            "reconnects": self.reconnects,
            "tier_changes": [
                {
                    "tier": change.tier.value,
                    "previous": None if change.previous is None else change.previous.value,
                    "reason": change.reason,
                }
                for change in self.tier_changes
            ],
            "started_at": None if self.started_at is None else self.started_at.isoformat(),
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True, slots=True)
class ReplyCompleted:
    """A turn finished with this reply."""

    reply: Reply


@dataclass(frozen=True, slots=True)
class TurnFailed:
    """A turn ended without a complete reply; ``partial_text`` keeps what had arrived."""

    turn_id: str
    error: LumeError
    partial_text: str = ""


@dataclass(frozen=True, slots=True)
class HistoryLoaded:
    """The server's history was (re)loaded; ``messages`` is the whole transcript, oldest first."""

    messages: tuple[Message, ...]


Event: TypeAlias = (
    StatusChanged
    | TierChanged
    | UserMessageStored
    | ChunkReceived
    | ReplyCompleted
    | TurnFailed
    | HistoryLoaded
)
"""Anything a consultation reports."""
