"""What a session shares with its parts: the state they read and change, the outputs they
queue, and the few moves only the session makes.

The parts of a :class:`~lume_widget.core.session.Session` (its
:class:`~lume_widget.core.requests.TurnRequests`, :class:`~lume_widget.core.tiers.TierPolicy`
and :class:`~lume_widget.core.delivery.TurnDelivery`) see it through one
:class:`SessionContext` and never through the session itself, so no part imports the session
and each says, by what it reads here, what it depends on. Pure data: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lume_widget.core.actions import Action
from lume_widget.core.events import Event, Tier
from lume_widget.core.link import Link
from lume_widget.core.settings import Settings
from lume_widget.core.transcript import Transcript
from lume_widget.core.turn import Turn
from lume_widget.errors import LumeError

__all__ = ["SessionContext", "SessionMoves"]


@dataclass(frozen=True, slots=True)
class SessionMoves:
    """The moves only the session makes, handed to its parts as callables."""

    fail_turn: Callable[[LumeError, float, str], None]
    """End the turn in flight with an error (``error, now, reason``)."""
    finish_turn: Callable[[str, float], None]
    """The turn in flight is over (its reply delivered): forget it, apply a pending pin,
    tell the status (``reason, now``)."""
    live_lost: Callable[[str, float], None]
    """The live link is gone (``reason, now``): recover the turn, reconnect or demote."""
    refresh_status: Callable[[str, float], None]
    """Derive the status from the tier, links and turn and tell it if it changed."""
    give_up: Callable[[str], None]
    """The tier gave up (``reason``): the status says offline until the next turn (or a
    switch to another tier)."""
    pong_received: Callable[[], None]
    """The live link answered the keepalive."""


@dataclass(eq=False, slots=True)
class SessionContext:
    """The state of one session its parts share: who it is, its settings and transcript, its
    two links, the tier, the pin, the turn in flight and the outputs the driver drains."""

    consultation_id: str
    settings: Settings
    transcript: Transcript
    live: Link
    legacy: Link
    random: Callable[[], float]
    moves: SessionMoves
    tier: Tier
    pinned: Tier | None = None
    turn: Turn | None = None
    """The turn in flight."""
    gave_up: bool = False
    """The last turn's tier gave up: offline until the next turn or another tier."""
    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def act(self, action: Action) -> None:
        """Queue I/O for the driver."""
        self.actions.append(action)

    def tell(self, event: Event) -> None:
        """Queue a fact to report."""
        self.events.append(event)

    @property
    def legacy_delivers(self) -> bool:
        """Whether the legacy socket delivers the reply (so no poll is needed)."""
        return self.tier is Tier.LEGACY and self.legacy.up
