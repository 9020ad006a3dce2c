"""The connection status a user is told (PROTOCOL A4), derived from the tier, links and turn.

The session never sets a status by hand: after each input it asks :func:`status_for` what
the status now is, and :func:`check_status_move` whether the move there is legal (the table
:data:`STATUS_MOVES`); an illegal move raises :class:`~lume_widget.errors.IllegalTransition`
and the status stays as it was.
"""

from __future__ import annotations

from lume_widget.core.events import ConnectionStatus, Tier
from lume_widget.core.link import Link
from lume_widget.errors import IllegalTransition

__all__ = ["STATUS_MOVES", "check_status_move", "status_for"]

S = ConnectionStatus

STATUS_MOVES: dict[ConnectionStatus, frozenset[ConnectionStatus]] = {
    status: frozenset(ConnectionStatus) - {status} for status in ConnectionStatus
}
"""Legal status moves: any status may follow another (the status is derived from the tier,
the links and the turn); the one rule is that a closed session moves to OFFLINE and stays."""


def status_for(
    *, fatal: bool, tier: Tier, live: Link, live_tried: bool, turn_in_flight: bool
) -> ConnectionStatus:
    """The status now: ``live_tried`` when live was ever up or has failed since it last
    reset (so it is reconnecting, not connecting for the first time)."""
    if fatal:
        return S.ERROR
    if tier is Tier.LIVE and not live.up:
        if live_tried:
            return S.RECONNECTING
        if live.down and not turn_in_flight:
            return S.OFFLINE
        return S.CONNECTING
    if turn_in_flight:
        return S.STREAMING
    if tier is not Tier.LIVE:
        return S.DEGRADED
    return S.CONNECTED


def check_status_move(current: ConnectionStatus, new: ConnectionStatus, *, closed: bool) -> None:
    """Raise :class:`IllegalTransition` unless ``current`` may move to ``new``."""
    if new not in STATUS_MOVES[current] or (closed and new is not S.OFFLINE):
        raise IllegalTransition(f"status cannot move from {current.value} to {new.value}")
