"""One WebSocket link of a session (live or legacy): its state, generation, backoff and actions.

The session holds two :class:`Link` objects, one per socket tier, and drives both through the
same moves. A link's state changes only through :data:`LINK_MOVES` (state x event -> new
state, as h11's ``_state.py``): a move the table does not allow raises
:class:`~lume_widget.errors.IllegalTransition` and leaves the link as it was. Every change is
logged. The generation names one socket: the driver tags each input with the generation of
the socket it came from, and an input of an older generation is stale.
"""

from __future__ import annotations

import enum
import logging

from lume_widget.core.actions import Action, CloseLegacy, CloseLive, ConnectLegacy, ConnectLive
from lume_widget.core.backoff import Backoff
from lume_widget.core.events import Tier
from lume_widget.errors import IllegalTransition

__all__ = ["LINK_MOVES", "Link", "LinkEvent", "LinkState"]

logger = logging.getLogger("lume_widget.core.session")


class LinkState(enum.Enum):
    """State of one WebSocket link (live or legacy)."""

    DOWN = "down"
    CONNECTING = "connecting"
    UP = "up"


class LinkEvent(enum.Enum):
    """What can happen to a link."""

    CONNECT = "connect"
    """The session asks the driver to open a socket (a new generation)."""
    OPENED = "opened"
    """The socket of the current generation is open."""
    FAILED = "failed"
    """The socket failed to open, or dropped, without the session asking."""
    CLOSE = "close"
    """The session gives the socket up: anything it still sends is stale."""


_D, _C, _U = LinkState.DOWN, LinkState.CONNECTING, LinkState.UP

LINK_MOVES: dict[tuple[LinkState, LinkEvent], LinkState] = {
    (_D, LinkEvent.CONNECT): _C,
    (_U, LinkEvent.CONNECT): _C,  # reopened at once: a fresh socket after an abandoned reply
    (_C, LinkEvent.OPENED): _U,
    (_C, LinkEvent.FAILED): _D,
    (_U, LinkEvent.FAILED): _D,
    (_D, LinkEvent.CLOSE): _D,
    (_C, LinkEvent.CLOSE): _D,
    (_U, LinkEvent.CLOSE): _D,
}
"""The legal link moves; any other (state, event) pair is an :class:`IllegalTransition`."""


class Link:
    """One socket tier's link: :attr:`state`, :attr:`generation`, :attr:`backoff` and the
    actions that open and close it. Pure: it returns actions, the session queues them."""

    def __init__(self, tier: Tier, backoff: Backoff) -> None:
        self.tier = tier
        self.state = LinkState.DOWN
        self.generation = 0
        self.backoff = backoff
        self.probing = False
        """The socket being opened is a probe (a try to promote back to live)."""

    @property
    def up(self) -> bool:
        return self.state is LinkState.UP

    @property
    def down(self) -> bool:
        return self.state is LinkState.DOWN

    def stale(self, generation: int) -> bool:
        """Whether an input tagged ``generation`` comes from a socket given up since."""
        return generation != self.generation

    def connect(self, delay: float, timeout: float = 0.0, *, probe: bool = False) -> Action:
        """Open a new socket after ``delay``; returns the action for the driver."""
        self._move(LinkEvent.CONNECT, "opening")
        self.generation += 1
        self.probing = probe
        if self.tier is Tier.LIVE:
            return ConnectLive(self.generation, delay, timeout, probe)
        return ConnectLegacy(self.generation, delay)

    def opened(self, now: float) -> None:
        """The socket is open: the backoff learns when."""
        self._move(LinkEvent.OPENED, f"generation {self.generation} open")
        self.backoff.link_up(now)

    def failed(self, reason: str) -> None:
        """The socket failed to open or dropped (the caller tells the backoff if it counts)."""
        self._move(LinkEvent.FAILED, reason)

    def close_action(self, reason: str, *, abrupt: bool = False) -> Action:
        """The action closing the current socket (the state is left to :meth:`close`)."""
        if self.tier is Tier.LIVE:
            return CloseLive(self.generation, reason, abrupt)
        return CloseLegacy(self.generation, reason)

    def close(self, reason: str) -> None:
        """Give the socket up: it is down, and what it still sends is stale."""
        self._move(LinkEvent.CLOSE, reason)
        self.generation += 1
        self.probing = False

    def _move(self, event: LinkEvent, reason: str) -> None:
        new = LINK_MOVES.get((self.state, event))
        if new is None:
            raise IllegalTransition(
                f"the {self.tier.value} link cannot {event.value} while {self.state.value}"
            )
        if new is not self.state:
            logger.debug(
                "%s link: %s -> %s (%s)", self.tier.value, self.state.value, new.value, reason
            )
        self.state = new
