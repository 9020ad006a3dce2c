"""The session state machine with fake time: tiers, deadlines, recovery and reconciliation, no I/O."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from lume_widget.core.actions import (
    CloseLegacy,
    CloseLive,
    ConnectLegacy,
    ConnectLive,
    FetchHistory,
    SendLive,
    SendPing,
    SendRest,
)
from lume_widget.core.events import (
    ChunkReceived,
    ConnectionStatus,
    HistoryLoaded,
    ReplyCompleted,
    StatusChanged,
    Tier,
    TierChanged,
    TurnFailed,
    UserMessageStored,
)
from lume_widget.core.models import Message
from lume_widget.core.polling import poll_gap
from lume_widget.core.session import IllegalTransition, Session, TurnPhase
from lume_widget.core.settings import Settings
from lume_widget.errors import (
    AuthenticationError,
    ConnectionFailedError,
    ConsultationNotActiveError,
    InvalidInputError,
    InvalidMessageError,
    NotFoundError,
    TurnCancelledError,
    TurnTimeoutError,
)

CID = "0b0f2a52-6a57-4d1f-a1a5-1f2d3c4b5a69"
GREETING = Message("g", "assistant", "Hello")


def frame(**event: Any) -> str:
    return json.dumps(event)


def history(*extra: tuple[str, str, str]) -> list[Message]:
    return [GREETING, *(Message(i, role, content) for i, role, content in extra)]


class Driver:
    """Feeds a session and keeps what it asked for and reported."""

    def __init__(self, pinned: Tier | None = None, **settings: Any) -> None:
        self.session = Session(
            CID, Settings(**settings), pinned=pinned, history=[GREETING], random=lambda: 1.0
        )
        self.actions: list[Any] = []
        self.events: list[Any] = []

    def drain(self) -> tuple[list[Any], list[Any]]:
        assert not self.session.refused_moves, "the core made a move STATUS_MOVES forbids"
        actions = self.session.actions_to_perform()
        events = self.session.events_received()
        self.actions += actions
        self.events += events
        return actions, events

    def last(self, kind: type) -> Any:
        return next(a for a in reversed(self.actions) if isinstance(a, kind))

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)] + [
            a for a in self.actions if isinstance(a, kind)
        ]

    def live_up(self, now: float = 0.0) -> None:
        self.session.start(now)
        self.drain()
        self.session.live_opened(self.session.live_generation, now)
        self.drain()

    def frames(self, now: float, *events: dict[str, Any]) -> None:
        for event in events:
            self.session.message_received(self.session.live_generation, frame(**event), now)
        self.drain()

    def answer_history(self, now: float, messages: list[Message]) -> None:
        self.drain()
        self.session.history_received(self.last(FetchHistory).request_id, messages, now)
        self.drain()


def test_session_live_turn_streams_reconciles_and_measures() -> None:
    d = Driver()
    d.live_up(0.0)
    assert d.session.status is ConnectionStatus.CONNECTED
    turn = d.session.begin_turn("  Hi  ", 10.0, datetime(2025, 1, 1, tzinfo=timezone.utc))
    d.drain()
    assert d.last(SendLive).text == "Hi"
    d.frames(10.2, {"type": "message_received"})
    assert d.session.turn_phase is TurnPhase.ACKNOWLEDGED
    d.frames(10.5, {"type": "stream_chunk", "content": "Hel"}, {"type": "pong"})
    d.frames(10.7, {"type": "stream_chunk", "content": "lo"})
    d.frames(11.0, {"type": "stream_complete", "metadata": {"tokens_used": 3}})
    assert d.last(FetchHistory).purpose == "reconcile"
    d.answer_history(11.2, history(("u1", "user", "Hi"), ("a1", "assistant", "Hello!")))
    reply = d.of(ReplyCompleted)[0].reply
    assert (reply.text, reply.message_id, reply.user_message_id) == ("Hello!", "a1", "u1")
    assert reply.ttft_s == pytest.approx(0.5)  # control frames do not count
    assert reply.duration_s == pytest.approx(1.2)
    assert reply.chunks == 2
    assert reply.metadata == {"tokens_used": 3}
    assert reply.turn_id == turn
    assert [c.text for c in d.of(ChunkReceived)] == ["Hel", "lo"]
    assert d.of(UserMessageStored)[0].message.id == "u1"
    assert [m.id for m in d.session.transcript.messages] == ["g", "u1", "a1"]
    assert d.session.status is ConnectionStatus.CONNECTED


def test_session_reconcile_retries_until_the_reply_is_stored() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.frames(1.1, {"type": "stream_chunk", "content": "x"}, {"type": "stream_complete"})
    d.answer_history(1.2, history(("u1", "user", "Hi")))
    retry = d.last(FetchHistory)
    assert retry.purpose == "reconcile"
    assert retry.delay_s == Settings().reconcile_retry_s
    d.answer_history(1.5, history(("u1", "user", "Hi"), ("a1", "assistant", "x")))
    assert d.of(ReplyCompleted)


def test_session_whole_message_frame_completes_via_reconcile() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    reply = {
        "id": "a1",
        "role": "assistant",
        "content": "Whole",
        "created_at": "2025-01-01T00:00:00Z",
    }
    user = {"id": "u1", "role": "user", "content": "Hi"}
    d.frames(1.1, {"type": "message", "message": user}, {"type": "message", "message": reply})
    assert [c.text for c in d.of(ChunkReceived)] == ["Whole"]
    d.answer_history(1.2, history(("u1", "user", "Hi"), ("a1", "assistant", "Whole")))
    assert d.of(ReplyCompleted)[0].reply.chunks == 1


def test_session_connect_failures_back_off_then_demote_to_rest() -> None:
    d = Driver()
    d.session.start(0.0)
    d.drain()
    d.session.begin_turn("Hi", 0.0)
    d.drain()
    delays = []
    for attempt in range(5):
        d.session.live_connect_failed(d.session.live_generation, 503, "unavailable", attempt)
        d.drain()
        if attempt < 4:
            delays.append(d.last(ConnectLive).delay_s)
    assert delays == [0.5, 1.0, 2.0, 4.0]  # full jitter with random() == 1.0: the ceilings
    assert d.session.tier is Tier.REST
    change = d.of(TierChanged)[0]
    assert (change.previous, change.tier) == (Tier.LIVE, Tier.REST)
    assert "5 times" in change.reason
    assert d.last(SendRest).text == "Hi"
    assert d.session.status is ConnectionStatus.STREAMING


@pytest.mark.parametrize("status", [400, 403, 404])
def test_session_refused_upgrade_demotes_at_once(status: int) -> None:
    d = Driver()
    d.session.start(0.0)
    d.session.live_connect_failed(1, status, "refused", 0.1)
    d.drain()
    assert d.session.tier is Tier.REST
    assert d.session.status is ConnectionStatus.DEGRADED
    assert str(status) in d.of(TierChanged)[0].reason


def test_session_pinned_live_fails_the_turn_instead_of_demoting() -> None:
    d = Driver(pinned=Tier.LIVE)
    d.session.start(0.0)
    d.session.begin_turn("Hi", 0.0)
    d.session.live_connect_failed(1, 403, "refused", 0.1)
    d.drain()
    assert d.session.tier is Tier.LIVE
    failed = d.of(TurnFailed)[0]
    assert isinstance(failed.error, ConnectionFailedError)
    assert failed.error.unsent_text == "Hi"
    assert not d.of(TierChanged)


def test_session_drop_after_ack_recovers_from_history_without_resending() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.frames(1.1, {"type": "message_received"}, {"type": "stream_chunk", "content": "par"})
    d.session.live_closed(d.session.live_generation, "closed (1006)", 1.2)
    d.drain()
    assert d.session.turn_phase is TurnPhase.RECOVERING
    assert d.session.status is ConnectionStatus.RECONNECTING
    assert d.last(ConnectLive).delay_s > 0
    d.session.live_opened(d.session.live_generation, 1.3)
    d.drain()
    d.answer_history(1.4, history(("u1", "user", "Hi"), ("a1", "assistant", "partial and more")))
    assert len(d.of(SendLive)) == 1
    reply = d.of(ReplyCompleted)[0].reply
    assert reply.text == "partial and more"
    assert reply.reconnects == 1


def test_session_drop_before_ack_checks_history_then_sends_once_more() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.drain()
    d.session.live_closed(d.session.live_generation, "closed", 1.1)
    d.drain()
    assert d.last(FetchHistory).purpose == "check"
    d.answer_history(1.2, history())
    assert d.session.turn_phase is TurnPhase.WAITING_LINK
    d.session.live_opened(d.session.live_generation, 1.3)
    d.drain()
    assert len(d.of(SendLive)) == 2


def test_session_drop_before_ack_with_message_stored_never_resends() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.session.live_closed(d.session.live_generation, "closed", 1.1)
    d.drain()
    d.answer_history(1.2, history(("u1", "user", "Hi")))
    assert d.session.turn_phase is TurnPhase.RECOVERING
    assert d.last(FetchHistory).delay_s == poll_gap(Settings().rest_poll_schedule, 0.2)
    d.answer_history(2.2, history(("u1", "user", "Hi"), ("a1", "assistant", "ok")))
    assert len(d.of(SendLive)) == 1
    assert d.of(ReplyCompleted)


def test_session_stall_closes_the_socket_and_recovers() -> None:
    d = Driver(stream_inactivity_s=30.0)
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.frames(2.0, {"type": "message_received"}, {"type": "stream_chunk", "content": "a"})
    assert d.session.next_deadline() == pytest.approx(20.0)  # the app ping comes first
    d.session.tick(20.0)
    d.drain()
    assert d.of(SendPing)
    assert d.session.next_deadline() == pytest.approx(32.0)
    d.session.tick(31.9)
    d.drain()
    assert not d.of(CloseLive)
    d.session.tick(32.0)
    d.drain()
    assert d.of(CloseLive)[0].abrupt
    assert d.session.turn_phase is TurnPhase.RECOVERING


def test_session_turn_deadline_fails_with_the_partial_text() -> None:
    d = Driver(turn_deadline_s=120.0, stream_inactivity_s=1000.0)
    d.live_up()
    d.session.begin_turn("Hi", 0.0)
    d.frames(1.0, {"type": "stream_chunk", "content": "so far"})
    d.session.tick(119.0)
    d.drain()
    assert not d.of(TurnFailed)
    d.session.tick(120.0)
    d.drain()
    failed = d.of(TurnFailed)[0]
    assert isinstance(failed.error, TurnTimeoutError)
    assert failed.partial_text == "so far"
    assert failed.error.unsent_text is None  # it was delivered


def test_session_backoff_resets_only_after_the_stability_window() -> None:
    d = Driver()
    d.live_up(0.0)
    d.session.live_closed(d.session.live_generation, "closed", 1.0)  # up 1 s: short
    d.drain()
    first = d.last(ConnectLive).delay_s
    d.session.live_opened(d.session.live_generation, 2.0)
    d.session.live_closed(d.session.live_generation, "closed", 3.0)
    d.drain()
    assert d.last(ConnectLive).delay_s == 2 * first  # grows: no hot loop
    d.session.live_opened(d.session.live_generation, 4.0)
    d.session.tick(14.0)  # stable for 10 s
    d.session.live_closed(d.session.live_generation, "closed", 20.0)
    d.drain()
    assert d.last(ConnectLive).delay_s == 0.5  # reset


def test_session_accept_then_close_demotes_after_the_attempt_budget() -> None:
    d = Driver()
    d.session.start(0.0)
    for i in range(5):
        d.session.live_opened(d.session.live_generation, i)
        d.session.live_closed(d.session.live_generation, "closed", i + 0.01)
    d.drain()
    assert d.session.tier is Tier.REST


def _live_reply_then_idle_failures(failures: int) -> Driver:
    """A reply delivered on live, then the backend goes away while nobody is typing."""
    d = Driver()
    d.live_up(0.0)
    d.session.begin_turn("Hi", 1.0)
    d.frames(1.1, {"type": "stream_chunk", "content": "x"}, {"type": "stream_complete"})
    d.answer_history(1.2, history(("u1", "user", "Hi"), ("a1", "assistant", "x")))
    assert d.of(ReplyCompleted)
    d.session.live_closed(d.session.live_generation, "closed (1012)", 2.0)
    for i in range(failures):
        d.session.live_connect_failed(d.session.live_generation, None, "refused", 3.0 + i)
    d.drain()
    return d


def test_session_live_that_delivered_keeps_retrying_while_idle_with_a_capped_backoff() -> None:
    d = _live_reply_then_idle_failures(12)
    assert d.session.tier is Tier.LIVE
    assert not d.of(TierChanged)
    assert d.session.status is ConnectionStatus.RECONNECTING
    delays = [a.delay_s for a in d.of(ConnectLive)][1:]
    assert len(delays) == 13
    assert max(delays) == d.session.settings.backoff_cap_s  # random=1.0: the ceiling itself
    d.session.live_opened(d.session.live_generation, 20.0)  # the backend is back
    d.drain()
    assert d.session.status is ConnectionStatus.CONNECTED


def test_session_turn_after_idle_failures_past_the_budget_goes_by_rest_at_once() -> None:
    d = _live_reply_then_idle_failures(5)
    retry = d.last(ConnectLive)
    d.session.begin_turn("Again", 9.0)
    d.drain()
    assert d.session.tier is Tier.REST
    assert "before this turn" in d.of(TierChanged)[-1].reason
    assert d.last(SendRest).text == "Again"
    assert d.last(CloseLive).generation == retry.generation


def test_session_turn_after_idle_failures_within_the_budget_waits_for_live() -> None:
    d = _live_reply_then_idle_failures(2)
    d.session.begin_turn("Again", 9.0)
    d.drain()
    assert d.session.turn_phase is TurnPhase.WAITING_LINK
    for i in range(3):  # the turn spends what is left of the budget, then goes by REST
        d.session.live_connect_failed(d.session.live_generation, None, "refused", 9.1 + i)
    d.drain()
    assert d.session.tier is Tier.REST
    assert d.last(SendRest).text == "Again"


def test_session_rest_polls_follow_the_schedule_from_the_send() -> None:
    d = Driver(pinned=Tier.REST)
    d.session.start(0.0)
    d.session.begin_turn("Hi", 0.0)
    d.drain()
    d.session.send_succeeded(d.last(SendRest).request_id, Message("u1", "user", "Hi"), None, 0.05)
    d.drain()
    delays = [d.last(FetchHistory).delay_s]
    for now in (0.3, 1.0, 5.0, 20.0, 40.0):
        d.answer_history(now, history(("u1", "user", "Hi")))
        delays.append(d.last(FetchHistory).delay_s)
    assert delays == pytest.approx([0.1, 0.1, 0.25, 1.0, 2.0, 3.0])
    d.answer_history(41.0, history(("u1", "user", "Hi"), ("a1", "assistant", "done")))
    assert d.of(ReplyCompleted)[0].reply.tier is Tier.REST


def test_session_legacy_polls_every_second_then_every_three_while_its_socket_is_down() -> None:
    d = Driver(pinned=Tier.LEGACY)
    d.session.start(0.0)
    d.drain()
    assert d.of(ConnectLegacy)
    d.session.legacy_failed(d.session.legacy_generation, "refused", 0.1)
    d.session.begin_turn("Hi", 1.0)
    d.drain()
    assert d.last(SendRest).tier is Tier.LEGACY
    d.session.send_succeeded(d.last(SendRest).request_id, None, None, 1.1)
    d.drain()
    assert d.last(FetchHistory).delay_s == 1.0
    assert d.last(FetchHistory).tier is Tier.LEGACY
    d.answer_history(5.0, history(("u1", "user", "Hi")))
    assert d.last(FetchHistory).delay_s == 3.0


def test_session_legacy_message_before_the_post_answer_is_kept() -> None:
    d = Driver(pinned=Tier.LEGACY)
    d.session.start(0.0)
    d.session.legacy_opened(d.session.legacy_generation, 0.1)
    d.session.begin_turn("Hi", 1.0)
    d.drain()
    reply = {"id": "a1", "role": "assistant", "content": "Legacy"}
    d.session.legacy_message_received(
        d.session.legacy_generation, frame(type="message", message=reply), 1.1
    )
    d.session.send_succeeded(d.last(SendRest).request_id, Message("u1", "user", "Hi"), None, 1.2)
    d.drain()
    assert d.last(FetchHistory).purpose == "reconcile"
    d.answer_history(1.3, history(("u1", "user", "Hi"), ("a1", "assistant", "Legacy")))
    assert d.of(ReplyCompleted)


def test_session_rate_limited_send_waits_retry_after_capped_without_tier_change() -> None:
    d = Driver(pinned=Tier.REST)
    d.session.start(0.0)
    d.session.begin_turn("Hi", 0.0)
    d.drain()
    d.session.send_failed(d.last(SendRest).request_id, 429, "120", "slow down", 0.1)
    d.drain()
    assert d.last(SendRest).delay_s == 60.0
    assert not d.of(TierChanged)


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, InvalidInputError), (404, NotFoundError), (401, AuthenticationError)],
)
def test_session_client_errors_on_send_fail_the_turn_keeping_the_text(
    status: int, error: type
) -> None:
    d = Driver(pinned=Tier.REST)
    d.session.start(0.0)
    d.session.begin_turn("Hi", 0.0)
    d.drain()
    d.session.send_failed(d.last(SendRest).request_id, status, None, "nope", 0.1)
    d.drain()
    failed = d.of(TurnFailed)[0]
    assert isinstance(failed.error, error)
    assert failed.error.unsent_text == "Hi"
    if status == 401:
        assert d.session.status is ConnectionStatus.ERROR


def test_session_rest_failures_demote_to_legacy_and_resend_after_checking() -> None:
    d = Driver()
    d.session.start(0.0)
    d.session.live_connect_failed(1, 403, "refused", 0.0)
    d.session.begin_turn("Hi", 1.0)
    d.drain()
    for i in range(3):
        d.session.send_failed(d.last(SendRest).request_id, 500, None, "boom", 1.0 + i)
        d.drain()
        if i < 2:
            assert d.last(FetchHistory).purpose == "check"
            d.answer_history(1.5 + i, history())
    assert d.session.tier is Tier.LEGACY
    d.answer_history(5.0, history())
    assert d.last(SendRest).tier is Tier.LEGACY


def test_session_every_tier_failing_fails_the_turn_and_goes_offline() -> None:
    d = Driver(pinned=None)
    d.session.start(0.0)
    d.session.live_connect_failed(1, 404, "refused", 0.0)
    d.session.pin(Tier.LEGACY, 0.1)
    d.session.begin_turn("Hi", 1.0)
    d.drain()
    for i in range(3):
        d.session.send_failed(d.last(SendRest).request_id, None, None, "refused", 1.0 + i)
        d.drain()
        if i < 2:
            d.answer_history(1.5 + i, history())
    failed = d.of(TurnFailed)[0]
    assert isinstance(failed.error, ConnectionFailedError)
    assert failed.error.unsent_text == "Hi"
    assert d.session.status is ConnectionStatus.OFFLINE


def fail_requests_until_live_again(d: Driver, now: float) -> float:
    """Answer every request of the turn with a refused connection until it goes back to live."""
    before = len([e for e in d.events if isinstance(e, TierChanged)])
    for _ in range(60):
        d.drain()
        changes = [e for e in d.events if isinstance(e, TierChanged)][before:]
        if any(c.tier is Tier.LIVE for c in changes):
            return now
        request = next(a for a in reversed(d.actions) if isinstance(a, (SendRest, FetchHistory)))
        if isinstance(request, SendRest):
            d.session.send_failed(request.request_id, None, None, "refused", now)
        else:
            d.session.history_failed(request.request_id, None, None, "refused", now)
        now += 0.1
    raise AssertionError("the turn never went back to live")


def turn_on_rest(**settings: Any) -> Driver:
    d = Driver(**settings)
    d.session.start(0.0)
    d.session.live_connect_failed(1, 404, "refused", 0.0)
    d.session.begin_turn("Hi", 1.0)  # live failed 1 s ago: no probe, straight to rest
    d.drain()
    assert d.session.tier is Tier.REST
    return d


def test_session_every_tier_failing_starts_again_from_live_and_the_turn_completes() -> None:
    d = turn_on_rest()
    now = fail_requests_until_live_again(d, 1.1)
    change = d.of(TierChanged)[-1]
    assert change.tier is Tier.LIVE
    assert "every tier failed" in change.reason
    assert [c.tier for c in d.of(TierChanged)] == [Tier.REST, Tier.LEGACY, Tier.LIVE]
    assert not d.of(TurnFailed)
    assert d.session.turn_in_flight
    assert d.last(ConnectLive).delay_s == pytest.approx(2.0)  # round 1: ceiling 0.5 * 2**2
    # the backend is back: the check finds the message was never stored, so it goes out on live
    d.session.live_opened(d.session.live_generation, now + 2.0)
    d.answer_history(now + 2.1, history())
    assert d.last(SendLive).text == "Hi"
    d.frames(
        now + 2.2,
        {"type": "message_received"},
        {"type": "stream_chunk", "content": "Hello"},
        {"type": "stream_complete"},
    )
    d.answer_history(now + 2.3, history(("u1", "user", "Hi"), ("a1", "assistant", "Hello")))
    reply = d.of(ReplyCompleted)[0].reply
    assert reply.text == "Hello"
    assert d.session.status is ConnectionStatus.CONNECTED


def test_session_each_round_of_failing_tiers_waits_longer_until_the_deadline() -> None:
    d = turn_on_rest()
    now = fail_requests_until_live_again(d, 1.1)
    first = d.last(ConnectLive).delay_s
    for _ in range(5):
        d.session.live_connect_failed(d.session.live_generation, 404, "refused", now)
    now = fail_requests_until_live_again(d, now)
    assert d.last(ConnectLive).delay_s == pytest.approx(2 * first)
    assert d.session.turn_in_flight
    d.session.tick(1.0 + 120.0)
    d.drain()
    failed = d.of(TurnFailed)[0]
    assert isinstance(failed.error, TurnTimeoutError)
    assert failed.error.unsent_text == "Hi"


def test_session_without_cycling_every_tier_failing_fails_the_turn() -> None:
    d = turn_on_rest(cycle_tiers=False)
    for _ in range(60):
        if d.of(TurnFailed):
            break
        request = next(a for a in reversed(d.actions) if isinstance(a, (SendRest, FetchHistory)))
        if isinstance(request, SendRest):
            d.session.send_failed(request.request_id, None, None, "refused", 2.0)
        else:
            d.session.history_failed(request.request_id, None, None, "refused", 2.0)
        d.drain()
    failed = d.of(TurnFailed)[0]
    assert isinstance(failed.error, ConnectionFailedError)
    assert failed.error.unsent_text == "Hi"
    assert d.session.tier is Tier.LEGACY
    assert d.session.status is ConnectionStatus.OFFLINE


def test_session_probes_live_before_a_turn_at_most_every_interval() -> None:
    d = Driver()
    d.session.start(0.0)
    d.session.live_connect_failed(1, 403, "refused", 0.0)
    d.drain()
    d.session.begin_turn("zero", 1.0)  # live failed 1 s ago: no probe yet
    d.drain()
    assert isinstance(d.actions[-1], SendRest)
    d.session.send_succeeded(d.last(SendRest).request_id, None, None, 1.1)
    d.answer_history(2.0, history(("u0", "user", "zero"), ("a0", "assistant", "r0")))
    d.session.begin_turn("one", 31.0)
    d.drain()
    probe = d.last(ConnectLive)
    assert probe.probe
    assert probe.timeout_s == 5.0
    d.session.live_connect_failed(probe.generation, None, "refused", 31.5)
    d.drain()
    assert d.session.tier is Tier.REST
    d.session.send_succeeded(d.last(SendRest).request_id, None, None, 31.6)
    d.answer_history(
        32.0,
        history(
            ("u0", "user", "zero"),
            ("a0", "assistant", "r0"),
            ("u1", "user", "one"),
            ("a1", "assistant", "r1"),
        ),
    )
    d.session.begin_turn("three", 61.0)
    d.drain()
    probe = d.last(ConnectLive)
    assert probe.probe
    d.session.live_opened(probe.generation, 61.5)
    d.drain()
    assert d.session.tier is Tier.LIVE
    assert d.last(SendLive).text == "three"
    assert d.of(TierChanged)[-1].reason == "live is reachable again"


def test_session_pin_during_a_turn_applies_after_it() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.session.pin(Tier.REST, 1.1)
    assert d.session.tier is Tier.LIVE
    d.frames(1.2, {"type": "stream_complete"})
    d.answer_history(1.3, history(("u1", "user", "Hi"), ("a1", "assistant", "x")))
    assert d.session.tier is Tier.REST
    assert d.of(CloseLive)


def test_session_pin_legacy_and_back_opens_and_closes_links() -> None:
    d = Driver()
    d.live_up()
    d.session.pin(Tier.LEGACY, 1.0)
    d.drain()
    assert d.of(CloseLive)
    assert d.of(ConnectLegacy)
    d.session.legacy_opened(d.session.legacy_generation, 1.1)
    d.session.pin(Tier.LIVE, 2.0)
    d.drain()
    assert d.of(CloseLegacy)
    assert d.last(ConnectLive).delay_s == 0.0
    d.session.pin(None, 3.0)
    assert d.session.pinned is None


def test_session_illegal_inputs_raise_and_change_nothing() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.drain()
    with pytest.raises(IllegalTransition):
        d.session.begin_turn("again", 1.1)
    assert d.session.turn_phase is TurnPhase.SENT
    with pytest.raises(IllegalTransition):
        d.session.start(1.2)
    with pytest.raises(InvalidMessageError):
        Driver().session.begin_turn("", 0.0)
    idle = Driver()
    idle.session.start(0.0)
    with pytest.raises(IllegalTransition):
        idle.session.simulate_live_drop(0.1)
    with pytest.raises(IllegalTransition):
        idle.session.cancel_turn(0.1)


def test_session_simulated_drop_reconnects() -> None:
    d = Driver()
    d.live_up()
    d.session.simulate_live_drop(1.0)
    d.drain()
    assert d.of(CloseLive)[0].abrupt
    assert d.session.status is ConnectionStatus.RECONNECTING
    assert any("simulated drop" in e.reason for e in d.of(StatusChanged))
    stale = d.last(ConnectLive).generation - 1
    d.session.live_closed(stale, "late report", 1.1)  # the old socket's close is ignored
    assert d.session.status is ConnectionStatus.RECONNECTING


def test_session_cancel_and_close() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.frames(1.1, {"type": "stream_chunk", "content": "par"})
    d.session.cancel_turn(1.2)
    d.drain()
    failed = d.of(TurnFailed)[0]
    assert isinstance(failed.error, TurnCancelledError)
    assert failed.partial_text == "par"
    d.session.begin_turn("Again", 2.0)
    d.session.close(2.1)
    d.session.close(2.2)
    d.drain()
    assert d.session.status is ConnectionStatus.OFFLINE
    assert isinstance(d.of(TurnFailed)[-1].error, TurnCancelledError)
    with pytest.raises(ConnectionFailedError):
        d.session.begin_turn("after close", 3.0)
    d.session.tick(4.0)
    assert d.session.next_deadline() is None


def test_session_error_frames_fail_the_turn() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.frames(
        1.1,
        {"type": "error", "error": "Consultation is not active", "code": "CONSULTATION_NOT_ACTIVE"},
    )
    failed = d.of(TurnFailed)[0]
    assert isinstance(failed.error, ConsultationNotActiveError)
    assert failed.error.unsent_text == "Hi"


def test_session_idle_frames_extend_the_transcript_once() -> None:
    d = Driver()
    d.live_up()
    pushed = {"id": "m9", "role": "assistant", "content": "pushed"}
    d.frames(1.0, {"type": "message", "message": pushed}, {"type": "message", "message": pushed})
    assert [m.id for m in d.session.transcript.messages] == ["g", "m9"]
    assert len(d.of(HistoryLoaded)) == 1
    d.session.message_received(d.session.live_generation, b"\x00", 1.1)
    d.session.message_received(d.session.live_generation, '{bad\n{"type":"nope"}', 1.2)
    assert d.session.frames_skipped == 3


def test_session_history_failures_on_live_retry_and_client_errors_fail() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.frames(1.1, {"type": "stream_complete"})
    d.session.history_failed(d.last(FetchHistory).request_id, 502, None, "bad gateway", 1.2)
    d.drain()
    assert d.last(FetchHistory).purpose == "reconcile"
    d.session.history_failed(d.last(FetchHistory).request_id, 429, "2", "slow", 1.3)
    d.drain()
    assert d.last(FetchHistory).delay_s == 2.0
    d.session.history_failed(d.last(FetchHistory).request_id, 404, None, "gone", 1.4)
    d.drain()
    assert isinstance(d.of(TurnFailed)[0].error, NotFoundError)
