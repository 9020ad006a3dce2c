"""Edges of the session state machine: stale inputs, odd frames, legacy links, failure paths."""

from __future__ import annotations

import logging

import pytest

from lume_widget.core.actions import (
    CloseLegacy,
    CloseLive,
    ConnectLegacy,
    ConnectLive,
    FetchHistory,
    SendRest,
)
from lume_widget.core.events import (
    ChunkReceived,
    ConnectionStatus,
    ReplyCompleted,
    Tier,
    TierChanged,
    TurnFailed,
    UserMessageStored,
)
from lume_widget.core.models import Message
from lume_widget.core.session import IllegalTransition, Session, TurnPhase
from lume_widget.core.turn import move
from lume_widget.errors import AuthenticationError, ConnectionFailedError, ServerError
from tests.test_core_session import CID, Driver, frame, history


def test_session_stale_and_out_of_order_inputs_are_ignored() -> None:
    d = Driver()
    d.session.start(0.0)
    old = d.session.live_generation
    d.session.live_opened(old + 5, 0.1)
    d.session.live_connect_failed(old + 5, 403, "stale", 0.1)
    d.session.live_closed(old, "not up yet", 0.1)
    d.session.message_received(old + 5, frame(type="pong"), 0.1)
    d.session.legacy_opened(99, 0.1)
    d.session.legacy_failed(99, "stale", 0.1)
    d.session.legacy_message_received(99, "x", 0.1)
    d.session.send_succeeded(42, None, None, 0.1)
    d.session.send_failed(42, 500, None, "stale", 0.1)
    d.session.history_failed(42, 500, None, "stale", 0.1)
    d.session.history_received(42, history(), 0.1)
    d.drain()
    assert d.session.status is ConnectionStatus.CONNECTING
    assert d.session.tier is Tier.LIVE
    assert not d.session.turn_in_flight
    assert d.session.current_turn_id is None


def test_session_odd_frames_during_a_turn() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.frames(
        1.1,
        {"type": "connected"},
        {"type": "stream_chunk", "content": ""},  # empty: no event, no first token
        {"type": "stream_chunk", "content": 5},  # not text
        {"type": "message", "message": {"id": "x"}},  # unreadable
        {"type": "message", "message": {"id": "o", "role": "user", "content": "other"}},
        {"type": "message", "message": {"id": "s", "role": "system", "content": "sys"}},
        {"type": "message_received"},
        {"type": "message_received"},  # a duplicate ack changes nothing
        {"type": "stream_chunk", "content": "a"},
        {"type": "message", "message": {"id": "a1", "role": "assistant", "content": "a!"}},
    )
    assert [c.text for c in d.of(ChunkReceived)] == ["a"]  # the whole message was streamed
    assert d.session.frames_skipped == 1
    assert d.session.turn_phase is TurnPhase.RECONCILING
    d.frames(1.2, {"type": "stream_chunk", "content": "late"}, {"type": "stream_complete"})
    assert [c.text for c in d.of(ChunkReceived)] == ["a"]
    d.answer_history(1.3, history(("u1", "user", "Hi"), ("a1", "assistant", "a!")))
    reply = d.of(ReplyCompleted)[0].reply
    assert reply.ttft_s == pytest.approx(0.1)
    assert not d.session.turn_in_flight


def test_session_idle_frames_other_than_messages_are_harmless() -> None:
    d = Driver()
    d.live_up()
    d.frames(1.0, {"type": "pong"}, {"type": "stream_complete"})
    assert len(d.session.transcript) == 1


def test_session_legacy_socket_delivers_then_drops_into_polling() -> None:
    d = Driver(pinned=Tier.LEGACY, stream_inactivity_s=30.0)
    d.session.start(0.0)
    d.session.legacy_opened(d.session.legacy_generation, 0.1)
    d.session.begin_turn("Hi", 1.0)
    d.drain()
    d.session.send_succeeded(d.last(SendRest).request_id, None, None, 1.1)
    d.drain()
    assert not d.of(FetchHistory)  # the socket will deliver
    d.session.legacy_failed(d.session.legacy_generation, "closed", 2.0)
    d.drain()
    assert d.last(FetchHistory).delay_s == 0.0
    assert d.last(ConnectLegacy).delay_s > 0
    d.answer_history(2.1, history(("u1", "user", "Hi")))
    assert d.last(FetchHistory).delay_s == 1.0  # legacy polls every second at first
    d.answer_history(4.5, history(("u1", "user", "Hi")))
    assert d.last(FetchHistory).delay_s == 3.0  # then every 3 s
    d.answer_history(7.5, history(("u1", "user", "Hi"), ("a1", "assistant", "ok")))
    assert d.of(ReplyCompleted)


def test_session_legacy_socket_silence_falls_back_to_a_poll() -> None:
    d = Driver(pinned=Tier.LEGACY, stream_inactivity_s=30.0)
    d.session.start(0.0)
    d.session.legacy_opened(d.session.legacy_generation, 0.1)
    d.session.begin_turn("Hi", 1.0)
    d.drain()
    d.session.send_succeeded(d.last(SendRest).request_id, None, None, 1.1)
    d.session.tick(31.1)
    d.drain()
    assert d.last(FetchHistory).delay_s == 0.0


def test_session_probe_outcomes_after_the_turn_moved_on() -> None:
    d = Driver()
    d.session.start(0.0)
    d.session.live_connect_failed(1, 403, "refused", 0.0)
    d.session.begin_turn("Hi", 40.0)
    d.drain()
    probe = d.last(ConnectLive)
    d.session.cancel_turn(40.1)
    d.session.live_connect_failed(probe.generation, None, "timeout", 41.0)
    d.drain()
    assert d.session.tier is Tier.REST
    d.session.begin_turn("Again", 80.0)
    d.drain()
    probe = d.last(ConnectLive)
    d.session.cancel_turn(80.1)
    d.session.live_opened(probe.generation, 80.2)
    d.drain()
    assert d.session.tier is Tier.LIVE  # promoted even though the turn is gone
    assert d.session.status is ConnectionStatus.CONNECTED


def test_session_pinned_live_refusal_without_a_turn_just_reports() -> None:
    d = Driver(pinned=Tier.LIVE)
    d.session.start(0.0)
    d.session.live_connect_failed(1, 404, "refused", 0.1)
    d.drain()
    assert d.session.tier is Tier.LIVE
    assert d.session.status is ConnectionStatus.OFFLINE
    d.session.begin_turn("Hi", 1.0)  # the live link is down: the turn reconnects it
    d.drain()
    assert d.session.turn_phase is TurnPhase.WAITING_LINK
    assert d.last(ConnectLive).delay_s == 0.0


def test_session_next_deadline_includes_the_stability_window() -> None:
    d = Driver()
    d.live_up(0.0)
    d.session.live_closed(d.session.live_generation, "closed", 1.0)
    d.session.live_opened(d.session.live_generation, 2.0)
    assert d.session.next_deadline() == pytest.approx(12.0)
    d.session.tick(12.0)
    assert d.session.next_deadline() == pytest.approx(22.0)


def test_session_close_stops_every_link() -> None:
    d = Driver()
    d.session.start(0.0)
    d.session.pin(Tier.LEGACY, 0.1)
    d.session.close(0.2)
    d.drain()
    assert d.of(CloseLegacy)
    connecting = Driver()
    connecting.session.start(0.0)
    connecting.session.close(0.1)
    connecting.drain()
    assert connecting.of(CloseLive)
    with pytest.raises(ConnectionFailedError):
        connecting.session.pin(Tier.REST, 0.2)


def test_session_illegal_moves_raise_without_changing_state() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    turn = d.session._turn
    assert turn is not None
    with pytest.raises(IllegalTransition):
        move(turn, TurnPhase.PROBING)
    assert d.session.turn_phase is TurnPhase.SENT
    d.session.close(2.0)
    d.drain()
    d.session._set_status(ConnectionStatus.CONNECTED, "after close", 2.1)  # a bug's move
    assert d.session.status is ConnectionStatus.OFFLINE  # refused, logged, remembered
    assert d.session.refused_moves == [
        (ConnectionStatus.OFFLINE, ConnectionStatus.CONNECTED, "after close")
    ]
    assert not d.session.events_received()
    d.session.refused_moves.clear()


def test_session_rest_history_failures_count_toward_demotion() -> None:
    d = Driver(pinned=None)
    d.session.start(0.0)
    d.session.live_connect_failed(1, 403, "refused", 0.0)
    d.session.begin_turn("Hi", 1.0)
    d.drain()
    d.session.send_succeeded(d.last(SendRest).request_id, Message("u1", "user", "Hi"), None, 1.1)
    d.drain()
    for i in range(3):
        d.session.history_failed(d.last(FetchHistory).request_id, None, None, "refused", 2.0 + i)
        d.drain()
    assert d.session.tier is Tier.LEGACY
    assert d.last(FetchHistory).tier is Tier.LEGACY  # recovering, never resending
    assert len(d.of(SendRest)) == 1


def test_session_history_waits_in_every_phase() -> None:
    d = Driver(pinned=Tier.REST)
    d.session.start(0.0)
    d.session.begin_turn("Hi", 1.0)
    d.drain()
    d.session.send_failed(d.last(SendRest).request_id, None, None, "reset", 1.1)
    d.drain()
    assert d.last(FetchHistory).purpose == "check"
    d.session.history_failed(d.last(FetchHistory).request_id, 429, "1", "slow", 1.2)
    d.drain()
    assert d.last(FetchHistory).purpose == "check"
    d.answer_history(2.3, history(("u1", "user", "Hi")))
    d.session.history_failed(d.last(FetchHistory).request_id, 429, "1", "slow", 3.0)
    d.drain()
    assert d.last(FetchHistory).purpose == "poll"


def test_session_gives_up_after_repeated_undelivered_sends() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.drain()
    for i in range(8):
        d.session.live_closed(d.session.live_generation, "closed", 100.0 * (i + 1))
        d.drain()
        d.answer_history(100.0 * (i + 1) + 1, history())
        if d.session.turn_in_flight:
            d.session.live_opened(d.session.live_generation, 100.0 * (i + 1) + 2)
            d.drain()
    failed = d.of(TurnFailed)[0]
    assert isinstance(failed.error, ConnectionFailedError)
    assert failed.error.unsent_text == "Hi"


def test_session_demotion_while_reconciling_keeps_reconciling() -> None:
    d = Driver()
    d.session.start(0.0)
    d.session.live_opened(1, 0.0)
    d.session.begin_turn("Hi", 1.0)
    d.frames(1.1, {"type": "stream_complete"})
    for i in range(5):
        d.session.live_closed(d.session.live_generation, "closed", 1.2 + i)
        d.session.live_opened(d.session.live_generation, 1.3 + i)
    d.drain()
    assert d.session.tier is Tier.REST
    assert d.session.turn_phase is TurnPhase.RECONCILING


def test_session_user_message_from_a_frame_is_reported_once() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    user = {"id": "u1", "role": "user", "content": "Hi"}
    d.frames(1.1, {"type": "message", "message": user}, {"type": "message", "message": user})
    assert len(d.of(UserMessageStored)) == 1


def test_session_server_error_frame_and_default_random() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.frames(1.1, {"type": "message_received"}, {"type": "error"})
    failed = d.of(TurnFailed)[0]
    assert isinstance(failed.error, ServerError)
    assert failed.error.unsent_text is None
    session = Session(CID)
    session.start(0.0)
    session.live_connect_failed(1, 503, "busy", 0.1)
    delay = session.actions_to_perform()[-1]
    assert isinstance(delay, ConnectLive)
    assert 0.0 <= delay.delay_s <= 0.5


def test_session_stopping_a_live_reply_reopens_the_socket_and_skips_its_reply() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Tell me everything", 1.0)
    d.frames(1.1, {"type": "message_received"}, {"type": "stream_chunk", "content": "Every"})
    old = d.session.live_generation
    d.session.cancel_turn(1.2)
    d.drain()
    assert d.of(CloseLive)[-1].generation == old
    reopen = d.last(ConnectLive)
    assert reopen.delay_s == 0.0
    assert reopen.generation == old + 1
    d.session.message_received(old, frame(type="stream_chunk", content="thing"), 1.25)  # stale
    d.session.live_opened(reopen.generation, 1.3)
    d.session.begin_turn("Short version", 2.0)
    d.frames(2.1, {"type": "stream_complete"})
    stored = history(
        ("u1", "user", "Tell me everything"),
        ("u2", "user", "Short version"),
        ("a1", "assistant", "Everything"),
        ("a2", "assistant", "Short."),
    )
    d.answer_history(2.2, stored)
    assert d.of(ReplyCompleted)[0].reply.message_id == "a2"
    assert not [c for c in d.of(ChunkReceived) if c.text == "thing"]


def test_session_pinned_rest_5xx_past_the_budget_is_a_server_error() -> None:
    d = Driver(pinned=Tier.REST)
    d.session.start(0.0)
    d.session.begin_turn("Hi", 1.0)
    d.drain()
    for i in range(3):
        d.session.send_failed(d.last(SendRest).request_id, 503, None, "unavailable", 1.0 + i)
        d.drain()
        if d.session.turn_in_flight:
            d.answer_history(1.5 + i, history())
    failed = d.of(TurnFailed)[0]
    assert isinstance(failed.error, ServerError)
    assert "network" not in str(failed.error)
    assert failed.error.unsent_text == "Hi"


def test_session_start_after_close_opens_nothing() -> None:
    for pinned in (None, Tier.REST, Tier.LEGACY):
        d = Driver(pinned=pinned)
        d.session.close(0.0)  # the user gave up while the consultation was opening
        d.drain()
        d.session.start(0.1)
        actions, _ = d.drain()
        assert actions == [], pinned
        assert d.session.status is ConnectionStatus.OFFLINE
    started = Driver()
    started.session.start(0.0)
    started.session.close(0.1)
    with pytest.raises(IllegalTransition, match="already started"):
        started.session.start(0.2)


def test_session_close_mid_turn_with_a_pending_pin_reports_no_tier_change() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.session.pin(Tier.REST, 1.1)  # takes effect after the turn...
    d.drain()
    d.session.close(1.2)  # ...but the turn ends because the session closes
    actions, events = d.drain()
    assert [e for e in events if isinstance(e, TurnFailed)]
    assert not [e for e in events if isinstance(e, TierChanged)]
    assert not [a for a in actions if isinstance(a, (ConnectLive, ConnectLegacy, SendRest))]
    assert d.session.status is ConnectionStatus.OFFLINE


def test_session_a_stop_is_logged_as_information_not_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    with caplog.at_level(logging.DEBUG, logger="lume_widget.core.session"):
        d.session.cancel_turn(1.1)
    stopped = [r for r in caplog.records if "stopped by the user" in r.getMessage()]
    assert stopped
    assert all(r.levelno == logging.INFO for r in stopped)


def test_session_credentials_failing_stop_the_legacy_link_until_the_next_turn() -> None:
    session = Session("c1", pinned=Tier.LEGACY)
    session.start(0.0)
    assert any(isinstance(a, ConnectLegacy) for a in session.actions_to_perform())
    session.begin_turn("Hello", 1.0)
    session.actions_to_perform()
    session.credentials_failed(AuthenticationError("gone"), 1.1)
    failed = [e for e in session.events_received() if isinstance(e, TurnFailed)]
    assert isinstance(failed[0].error, AuthenticationError)
    assert failed[0].error.unsent_text == "Hello"
    assert not any(isinstance(a, ConnectLegacy) for a in session.actions_to_perform())
    session.begin_turn("Hello again", 2.0)
    assert any(isinstance(a, ConnectLegacy) for a in session.actions_to_perform())


@pytest.mark.parametrize(
    ("stamp", "kept"),
    [
        ("2025-01-01T00:00:02.600000000Z", True),  # the backend's own form, later
        ("2025-01-01T00:00:02.500000000Z", True),  # the same instant
        ("2025-01-01T00:00:02.400000000Z", False),  # the same form, earlier: a late frame
        ("2025-01-01T00:00:03Z", True),  # another length: parsed
        ("2025-01-01T00:00:02Z", False),
        ("2025-01-01T01:00:03+01:00", True),  # an offset: parsed (00:00:03 UTC)
        ("2025-01-01T01:00:01+01:00", False),
        ("2025-13-01T00:00:03.000000000Z", True),  # no such date: never taken as earlier
        ("not a time", True),
    ],
)
def test_session_chunks_stamped_before_the_ack_are_dropped_whatever_their_form(
    stamp: str, kept: bool
) -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.frames(1.1, {"type": "message_received", "timestamp": "2025-01-01T00:00:02.500000000Z"})
    d.frames(1.2, {"type": "stream_chunk", "content": "x", "timestamp": stamp})
    assert [c.text for c in d.of(ChunkReceived)] == (["x"] if kept else [])
    assert d.session.frames_dropped == (0 if kept else 1)


def test_session_turn_reads_a_page_from_its_baseline_and_joins_it() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.frames(1.1, {"type": "stream_chunk", "content": "ok"}, {"type": "stream_complete"})
    read = d.last(FetchHistory)
    assert read.offset == 1  # the greeting is held: read from the turn's baseline on
    d.session.history_received(
        read.request_id,
        [Message("u1", "user", "Hi"), Message("a1", "assistant", "ok")],
        1.2,
        start=1,
    )
    d.drain()
    assert [m.id for m in d.session.transcript.messages] == ["g", "u1", "a1"]
    assert d.of(ReplyCompleted)[0].reply.message_id == "a1"


def test_session_page_that_no_longer_joins_the_transcript_is_read_again() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.frames(1.1, {"type": "stream_chunk", "content": "ok"}, {"type": "stream_complete"})
    stale_page = d.last(FetchHistory)
    d.session.history_received(0, [], 1.15)  # a read the user asked for: nothing stored yet
    d.drain()
    d.session.history_received(
        stale_page.request_id, [Message("a1", "assistant", "ok")], 1.2, start=1
    )
    d.drain()
    again = d.last(FetchHistory)
    assert (again.purpose, again.offset) == ("reconcile", 0)
    assert not d.of(ReplyCompleted)
    d.session.history_received(stale_page.request_id, [], 1.3, start=5)  # stale: ignored
    d.drain()
    assert d.last(FetchHistory) is again


def test_session_opened_on_the_newest_page_reads_and_matches_from_the_whole_history() -> None:
    d = Driver()
    held = [Message("u4800", "user", "Hi"), Message("a4801", "assistant", "Hello again")]
    d.session = Session(CID, d.session.settings, history=held, history_offset=4800)
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.frames(1.1, {"type": "stream_chunk", "content": "ok"}, {"type": "stream_complete"})
    read = d.last(FetchHistory)
    assert read.offset == 4802  # where the turn began in the whole history, not in the page
    d.session.history_received(
        read.request_id,
        [Message("u4802", "user", "Hi"), Message("a4803", "assistant", "ok")],
        1.2,
        start=4802,
    )
    d.drain()
    assert d.session.transcript.offset == 4800
    assert [m.id for m in d.session.transcript.messages] == ["u4800", "a4801", "u4802", "a4803"]
    assert d.of(ReplyCompleted)[0].reply.message_id == "a4803"


def test_session_opened_on_a_page_takes_a_whole_answer_and_still_skips_older_twins() -> None:
    d = Driver()
    held = [Message("u2", "user", "Hi"), Message("a3", "assistant", "Hello again")]
    d.session = Session(CID, d.session.settings, history=held, history_offset=2)
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.frames(1.1, {"type": "stream_chunk", "content": "ok"}, {"type": "stream_complete"})
    read = d.last(FetchHistory)
    whole = [
        Message("u0", "user", "Hi"),
        Message("a1", "assistant", "Hello"),
        *held,
        Message("u4", "user", "Hi"),
    ]
    # a backend without paging answers the whole history: taken as it is, from message 0
    d.session.history_received(read.request_id, whole, 1.2, start=0)
    d.drain()
    assert (d.session.transcript.offset, len(d.session.transcript)) == (0, 5)
    assert not d.of(ReplyCompleted)  # the identical messages before the turn are not ours
    d.session.history_received(
        d.last(FetchHistory).request_id, [*whole, Message("a5", "assistant", "ok")], 1.3
    )
    d.drain()
    assert d.of(ReplyCompleted)[0].reply.message_id == "a5"
