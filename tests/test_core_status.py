"""The connection status moves: the table itself, the moves the session makes, and a random
walk over every input of the core that never makes a move the table forbids."""

from __future__ import annotations

import pytest

from lume_widget.core.actions import ConnectLive, FetchHistory, SendRest
from lume_widget.core.events import ConnectionStatus, ReplyCompleted, StatusChanged, Tier
from lume_widget.core.models import Message
from lume_widget.core.status import STATUS_MOVES, check_status_move
from lume_widget.errors import IllegalTransition
from tests.core_walk import walk
from tests.test_core_session import (
    Driver,
    fail_requests_until_live_again,
    history,
    turn_on_rest,
)

S = ConnectionStatus

WALKS = range(400)
"""Seeds of the random walk (80 inputs each; well under a second in all)."""


def statuses(d: Driver) -> list[ConnectionStatus]:
    return [e.status for e in d.events if isinstance(e, StatusChanged)]


def test_status_table_lists_every_status_and_never_a_move_to_itself() -> None:
    assert set(STATUS_MOVES) == set(ConnectionStatus)
    for status, following in STATUS_MOVES.items():
        assert status not in following
        assert S.OFFLINE in following or status is S.OFFLINE  # closing is always possible


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.CONNECTED, S.CONNECTING),  # it was open: a new socket is a reconnect
        (S.RECONNECTING, S.CONNECTING),  # it was tried: still a reconnect
        (S.ERROR, S.CONNECTED),  # the credentials are gone: only a new turn tries again
        (S.ERROR, S.DEGRADED),
    ],
)
def test_status_illegal_move_raises(current: ConnectionStatus, new: ConnectionStatus) -> None:
    with pytest.raises(IllegalTransition, match=f"from {current.value} to {new.value}"):
        check_status_move(current, new, closed=False)


def test_status_closed_session_moves_to_offline_and_nowhere_else() -> None:
    for status in ConnectionStatus:
        if status is not S.OFFLINE:
            check_status_move(status, S.OFFLINE, closed=True)
            with pytest.raises(IllegalTransition, match="closed"):
                check_status_move(S.OFFLINE, status, closed=True)


def test_status_random_walks_make_only_moves_of_the_table() -> None:
    seen: set[tuple[ConnectionStatus, ConnectionStatus]] = set()
    replies = 0
    for seed in WALKS:
        result = walk(seed, 80)
        assert result.refused == [], f"seed {seed}"
        shown_up = False
        for (previous, status), label in result.moves:
            assert status in STATUS_MOVES[previous], f"seed {seed}: {label}"
            # once live was open, or tried again after a failure, it is never "connecting"
            assert not (shown_up and status is S.CONNECTING), f"seed {seed}: {label}"
            shown_up = shown_up or status in (S.CONNECTED, S.RECONNECTING)
            seen.add((previous, status))
        replies += result.replies
    assert replies > len(WALKS) // 2  # the walks do deliver replies, not only failures
    assert len(seen) >= 30  # and cross most of the table


def test_status_pinned_live_mid_turn_after_rest_gave_up_says_connecting_not_offline() -> None:
    d = Driver(pinned=Tier.REST, rest_failure_limit=1)
    d.session.start(0.0)
    d.session.begin_turn("Hi", 1.0)
    d.session.pin(Tier.LIVE, 1.1)  # takes effect when the turn ends
    d.drain()
    d.session.send_failed(d.last(SendRest).request_id, 500, None, "down", 1.2)
    d.drain()
    assert d.session.tier is Tier.LIVE
    assert d.session.status is S.CONNECTING  # the live link is opening: not offline
    d.session.live_opened(d.last(ConnectLive).generation, 1.5)
    d.drain()
    assert statuses(d)[-3:] == [S.STREAMING, S.CONNECTING, S.CONNECTED]


def test_status_rest_giving_up_says_offline_at_once_until_the_next_turn() -> None:
    d = Driver(pinned=Tier.REST, rest_failure_limit=1)
    d.session.start(0.0)
    d.session.begin_turn("Hi", 1.0)
    d.drain()
    d.session.send_failed(d.last(SendRest).request_id, 500, None, "down", 1.2)
    d.drain()
    assert statuses(d) == [S.CONNECTING, S.DEGRADED, S.STREAMING, S.OFFLINE]  # no flash
    d.session.begin_turn("Again", 2.0)
    d.drain()
    assert d.session.status is S.STREAMING


def test_status_after_giving_up_another_tier_pinned_is_degraded_not_offline() -> None:
    d = Driver(pinned=Tier.REST, rest_failure_limit=1)
    d.session.start(0.0)
    d.session.begin_turn("Hi", 1.0)
    d.drain()
    d.session.send_failed(d.last(SendRest).request_id, 500, None, "down", 1.2)
    d.session.pin(Tier.LEGACY, 2.0)
    d.drain()
    assert statuses(d)[-2:] == [S.OFFLINE, S.DEGRADED]  # a new tier: nothing gave up on it


def test_status_pinned_live_refused_after_it_was_up_says_offline() -> None:
    d = Driver(pinned=Tier.LIVE)
    d.live_up(0.0)
    d.session.live_closed(d.session.live_generation, "reset", 20.0)
    d.session.live_connect_failed(d.session.live_generation, 403, "refused", 20.5)
    d.drain()
    assert statuses(d)[-2:] == [S.RECONNECTING, S.OFFLINE]  # nothing is reconnecting now
    d.session.begin_turn("Hi", 21.0)  # the next turn tries again
    d.drain()
    assert d.session.status is S.RECONNECTING


def test_status_tiers_cycling_back_to_live_say_reconnecting() -> None:
    d = turn_on_rest()
    fail_requests_until_live_again(d, 1.1)
    assert d.session.status is S.RECONNECTING  # live failed before: not "connecting"
    assert S.CONNECTING not in statuses(d)[1:]


def test_status_probe_opening_after_the_tier_gave_up_goes_from_offline_to_connected() -> None:
    d = Driver(rest_failure_limit=1, cycle_tiers=False)
    d.session.start(0.0)
    d.session.live_connect_failed(1, 404, "refused", 0.0)
    d.session.pin(Tier.LEGACY, 0.1)
    d.session.pin(None, 0.2)
    d.session.begin_turn("Hi", 40.0)  # a probe interval later: live is probed first
    d.drain()
    probe = d.last(ConnectLive)
    assert probe.probe
    d.session.cancel_turn(40.1)  # the probe goes on
    d.session.begin_turn("Again", 40.2)
    d.drain()
    d.session.send_failed(d.last(SendRest).request_id, 500, None, "down", 40.3)
    d.drain()
    assert d.session.status is S.OFFLINE  # legacy gave up, the probe still on its way
    d.session.live_opened(probe.generation, 40.4)
    d.drain()
    assert statuses(d)[-2:] == [S.OFFLINE, S.CONNECTED]


def test_status_move_refused_by_the_table_never_stops_a_reply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a table missing a move the core makes (a bug): the reply still completes
    monkeypatch.setitem(STATUS_MOVES, S.STREAMING, frozenset({S.OFFLINE}))
    d = Driver(pinned=Tier.REST)
    d.session.start(0.0)
    d.session.begin_turn("Hi", 1.0)
    d.drain()
    d.session.send_succeeded(
        d.last(SendRest).request_id,
        Message("u1", "user", "Hi"),
        Message("a1", "assistant", "Hello"),
        1.1,
    )
    read = d.session.actions_to_perform()[-1]
    assert isinstance(read, FetchHistory)
    d.session.history_received(
        read.request_id, history(("u1", "user", "Hi"), ("a1", "assistant", "Hello")), 1.2
    )
    assert any(isinstance(e, ReplyCompleted) for e in d.session.events_received())
    assert d.session.refused_moves == [(S.STREAMING, S.DEGRADED, "reply complete")]
    assert d.session.status is S.STREAMING  # kept as it was
    d.session.refused_moves.clear()
