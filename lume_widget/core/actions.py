"""Actions the session core asks its driver to perform; the driver reports results back.

Each action is a frozen dataclass. ``delay_s`` means "wait this long first". Results
carry the ``generation`` (links) or ``request_id`` (requests) of their action, so the
core can ignore answers that arrive after it moved on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from lume_widget.core.events import Tier

__all__ = [
    "Action",
    "CloseLegacy",
    "CloseLive",
    "ConnectLegacy",
    "ConnectLive",
    "FetchHistory",
    "SendLive",
    "SendPing",
    "SendRest",
]


@dataclass(frozen=True, slots=True)
class ConnectLive:
    """Open the live WebSocket after ``delay_s``, giving up after ``timeout_s``; ``probe`` when promoting."""

    generation: int
    delay_s: float
    timeout_s: float
    probe: bool = False


@dataclass(frozen=True, slots=True)
class CloseLive:
    """Close the live WebSocket (``abrupt`` drops it without a closing handshake)."""

    generation: int
    reason: str
    abrupt: bool = False


@dataclass(frozen=True, slots=True)
class SendLive:
    """Send the user's message over the live WebSocket."""

    generation: int
    turn_id: str
    text: str


@dataclass(frozen=True, slots=True)
class SendPing:
    """Send the application-level ``{"type":"ping"}`` on the live WebSocket."""

    generation: int


@dataclass(frozen=True, slots=True)
class SendRest:
    """POST the user's message on the route of ``tier`` (rest or legacy) after ``delay_s``."""

    request_id: int
    turn_id: str
    tier: Tier
    text: str
    delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class FetchHistory:
    """GET the message history on the route of ``tier`` after ``delay_s``: from message
    ``offset`` on (a page, with the backend's ``limit``/``offset``), or all of it (0)."""

    request_id: int
    tier: Tier
    delay_s: float = 0.0
    purpose: str = "poll"
    offset: int = 0


@dataclass(frozen=True, slots=True)
class ConnectLegacy:
    """Open the legacy chat WebSocket after ``delay_s``."""

    generation: int
    delay_s: float


@dataclass(frozen=True, slots=True)
class CloseLegacy:
    """Close the legacy chat WebSocket."""

    generation: int
    reason: str


Action: TypeAlias = (
    ConnectLive
    | CloseLive
    | SendLive
    | SendPing
    | SendRest
    | FetchHistory
    | ConnectLegacy
    | CloseLegacy
)
