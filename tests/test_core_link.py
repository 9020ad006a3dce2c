"""One link object for the live and the legacy socket: its moves are a table, illegal ones raise."""

from __future__ import annotations

import logging

import pytest

from lume_widget.core.actions import CloseLegacy, CloseLive, ConnectLegacy, ConnectLive
from lume_widget.core.backoff import Backoff
from lume_widget.core.events import ConnectionStatus, Tier
from lume_widget.core.link import LINK_MOVES, Link, LinkEvent, LinkState
from lume_widget.core.settings import Settings
from lume_widget.core.status import check_status_move, status_for
from lume_widget.errors import IllegalTransition


def _link(tier: Tier) -> Link:
    return Link(tier, Backoff(Settings(), lambda: 1.0))


def test_link_live_and_legacy_open_and_close_with_their_own_actions() -> None:
    live, legacy = _link(Tier.LIVE), _link(Tier.LEGACY)
    assert live.connect(0.5, 10.0, probe=True) == ConnectLive(1, 0.5, 10.0, True)
    assert live.probing
    assert legacy.connect(0.25) == ConnectLegacy(1, 0.25)
    live.opened(1.0)
    legacy.opened(1.0)
    assert live.up
    assert legacy.up
    assert live.close_action("bye", abrupt=True) == CloseLive(1, "bye", True)
    assert legacy.close_action("bye") == CloseLegacy(1, "bye")
    live.close("bye")
    assert live.down
    assert not live.probing
    assert live.stale(1)  # what the closed socket still sends is ignored
    assert not legacy.stale(1)


def test_link_illegal_move_raises_and_leaves_the_link_unchanged() -> None:
    link = _link(Tier.LIVE)
    with pytest.raises(IllegalTransition, match="cannot opened while down"):
        link.opened(0.0)
    assert (link.state, link.generation) == (LinkState.DOWN, 0)
    with pytest.raises(IllegalTransition, match="cannot failed while down"):
        link.failed("refused")
    link.connect(0.0, 1.0)
    with pytest.raises(IllegalTransition, match="cannot connect while connecting"):
        link.connect(0.0, 1.0)
    assert (link.state, link.generation) == (LinkState.CONNECTING, 1)


def test_link_moves_table_covers_what_the_session_does() -> None:
    allowed = {(state, event) for state, event in LINK_MOVES}
    illegal = {(s, e) for s in LinkState for e in LinkEvent} - allowed
    assert illegal == {
        (LinkState.DOWN, LinkEvent.OPENED),
        (LinkState.DOWN, LinkEvent.FAILED),
        (LinkState.CONNECTING, LinkEvent.CONNECT),
        (LinkState.UP, LinkEvent.OPENED),
    }


def test_link_logs_every_change(caplog: pytest.LogCaptureFixture) -> None:
    link = _link(Tier.LEGACY)
    with caplog.at_level(logging.DEBUG, logger="lume_widget.core.session"):
        link.connect(0.0)
        link.opened(1.0)
        link.failed("reset by peer")
    assert [r.getMessage() for r in caplog.records] == [
        "legacy link: down -> connecting (opening)",
        "legacy link: connecting -> up (generation 1 open)",
        "legacy link: up -> down (reset by peer)",
    ]


def test_status_closed_session_moves_only_to_offline() -> None:
    S = ConnectionStatus
    check_status_move(S.STREAMING, S.OFFLINE, closed=True)
    with pytest.raises(IllegalTransition):
        check_status_move(S.OFFLINE, S.CONNECTED, closed=True)
    live = _link(Tier.LIVE)
    assert (
        status_for(fatal=False, tier=Tier.LIVE, live=live, live_tried=False, turn_in_flight=False)
        is S.OFFLINE
    )
    assert (
        status_for(fatal=False, tier=Tier.REST, live=live, live_tried=True, turn_in_flight=False)
        is S.DEGRADED
    )
