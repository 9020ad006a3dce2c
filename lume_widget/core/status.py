"""The connection status a user is told (PROTOCOL A4), derived from the tier, links and turn.

The session never sets a status by hand: after each input it asks :func:`status_for` what
the status now is, and :func:`check_status_move` whether the move there is legal. The legal
moves are a table, :data:`STATUS_MOVES` (as h11's ``_state.py``): a move it does not list
raises :class:`~lume_widget.errors.IllegalTransition`, and a closed session only moves to
OFFLINE. The table was drawn from every move the session makes (its tests and a random walk
over all its inputs, ``tests/test_core_status.py``) and says which a user may see: once live
has been open or has failed, the status never says CONNECTING again (it is RECONNECTING), and
ERROR ends only when the user's next turn tries again.

The session refuses an illegal move rather than dying of it (a reply in flight still
completes, chat keeps working): it logs the move as a bug, keeps the status it had and
records the move in :attr:`~lume_widget.core.session.Session.refused_moves`.
"""

from __future__ import annotations

from lume_widget.core.events import ConnectionStatus, Tier
from lume_widget.core.link import Link
from lume_widget.errors import IllegalTransition

__all__ = ["STATUS_MOVES", "check_status_move", "status_for"]

S = ConnectionStatus

STATUS_MOVES: dict[ConnectionStatus, frozenset[ConnectionStatus]] = {
    # the first connection: it opens, a turn starts on it, it fails (tried again, demoted,
    # given up when live is pinned), the credentials fail, or the user closes
    S.CONNECTING: frozenset(
        {S.CONNECTED, S.STREAMING, S.RECONNECTING, S.DEGRADED, S.OFFLINE, S.ERROR}
    ),
    # live up and idle: a turn starts, the link drops (never CONNECTING: it was open), the
    # user pins another tier or live is demoted, the credentials fail, the user closes
    S.CONNECTED: frozenset({S.STREAMING, S.RECONNECTING, S.DEGRADED, S.OFFLINE, S.ERROR}),
    # a reply in flight: it ends on live or another tier, the link drops, every tier gives up,
    # the credentials fail; CONNECTING when the turn ends on live pinned meanwhile (or tiers
    # cycling back to it) and live was never tried in this session
    S.STREAMING: frozenset(
        {S.CONNECTED, S.DEGRADED, S.RECONNECTING, S.CONNECTING, S.OFFLINE, S.ERROR}
    ),
    # live trying again after a drop or a failure: it opens (idle or with a turn), live is
    # demoted, a pinned live gives up, the credentials fail (never CONNECTING: it was tried)
    S.RECONNECTING: frozenset({S.CONNECTED, S.STREAMING, S.DEGRADED, S.OFFLINE, S.ERROR}),
    # on rest or legacy: a turn starts, a probe brings live back, the user pins live (for
    # the first time: CONNECTING), the credentials fail, the user closes
    S.DEGRADED: frozenset(
        {S.STREAMING, S.CONNECTED, S.CONNECTING, S.RECONNECTING, S.OFFLINE, S.ERROR}
    ),
    # nothing is trying (every tier gave up, a pinned live is unavailable): the next turn or
    # a pin starts again, a probe sent before the tier gave up finds live, or the credentials
    # fail
    S.OFFLINE: frozenset(
        {S.STREAMING, S.CONNECTING, S.RECONNECTING, S.DEGRADED, S.CONNECTED, S.ERROR}
    ),
    # the credentials are gone: only the user's next turn tries again (or the user closes)
    S.ERROR: frozenset({S.STREAMING, S.CONNECTING, S.RECONNECTING, S.OFFLINE}),
}
"""Legal status moves: the statuses each status may be followed by (a closed session moves
to OFFLINE and stays)."""


def status_for(
    *,
    fatal: bool,
    gave_up: bool = False,
    tier: Tier,
    live: Link,
    live_tried: bool,
    turn_in_flight: bool,
) -> ConnectionStatus:
    """The status now. ``fatal``: the credentials are gone; ``gave_up``: the last turn's
    tier gave up and nothing tries until the next turn; ``live_tried``: live was ever open,
    or failed, in this session (so it is reconnecting, not connecting for the first time)."""
    if fatal:
        return S.ERROR
    if tier is Tier.LIVE and not live.up:
        if live.down and not turn_in_flight:
            return S.OFFLINE  # nothing is opening it: the next turn will
        return S.RECONNECTING if live_tried else S.CONNECTING
    if turn_in_flight:
        return S.STREAMING
    if tier is not Tier.LIVE:
        return S.OFFLINE if gave_up else S.DEGRADED
    return S.CONNECTED


def check_status_move(current: ConnectionStatus, new: ConnectionStatus, *, closed: bool) -> None:
    """Raise :class:`IllegalTransition` unless ``current`` may move to ``new``
    (:data:`STATUS_MOVES`; after close, only to OFFLINE)."""
    if closed and new is not S.OFFLINE:
        raise IllegalTransition(
            f"status cannot move from {current.value} to {new.value}: the session is closed"
        )
    if new not in STATUS_MOVES[current]:
        raise IllegalTransition(f"status cannot move from {current.value} to {new.value}")
