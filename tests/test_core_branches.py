"""The session core's rarer paths: pins during probes, unstable links, resends, closed sessions."""

from __future__ import annotations

from lume_widget.core.actions import (
    CloseLive,
    ConnectLive,
    FetchHistory,
    SendLive,
    SendPing,
    SendRest,
)
from lume_widget.core.events import ConnectionStatus, StatusChanged, Tier, TierChanged
from lume_widget.core.models import Message
from lume_widget.core.session import TurnPhase
from lume_widget.core.transcript import find_turn
from lume_widget.core.wire import ErrorInfo, error_info
from tests.test_core_session import Driver, history


def _probe_opened_while_rest_is_pinned() -> Driver:
    """Live refused, a later turn probes it, the user pins REST, and then the probe opens."""
    d = Driver()
    d.session.start(0.0)
    d.session.live_connect_failed(d.session.live_generation, 403, "refused", 0.0)
    d.drain()
    assert d.session.tier is Tier.REST
    d.session.begin_turn("Hi", 31.0)  # a probe interval after live failed
    d.drain()
    probe = d.last(ConnectLive)
    assert probe.probe
    d.session.pin(Tier.REST, 31.1)
    d.session.live_opened(probe.generation, 31.5)
    d.drain()
    return d


def test_session_pin_during_a_probe_keeps_the_turn_on_the_pinned_tier() -> None:
    d = _probe_opened_while_rest_is_pinned()
    assert d.session.tier is Tier.REST
    assert [c.tier for c in d.of(TierChanged)] == [Tier.REST]  # no move back to live
    assert d.last(SendRest).text == "Hi"
    assert not d.of(SendLive)
    assert d.session.turn_phase is TurnPhase.SENDING


def test_session_probe_opened_off_a_pinned_tier_is_closed_at_once() -> None:
    d = _probe_opened_while_rest_is_pinned()
    close = d.last(CloseLive)
    assert "pinned" in close.reason
    generation = d.session.live_generation
    assert close.generation == generation - 1  # late frames of that socket are stale
    connects = len(d.of(ConnectLive))
    d.session.live_closed(close.generation, "closed by the client", 32.0)  # stale: ignored
    d.drain()
    assert len(d.of(ConnectLive)) == connects
    assert d.session.tier is Tier.REST
    assert d.session.turn_phase is TurnPhase.SENDING  # the POST in flight is untouched
    d.session.send_succeeded(d.last(SendRest).request_id, None, None, 32.1)
    d.answer_history(33.0, history(("u1", "user", "Hi"), ("a1", "assistant", "Hello there")))
    assert not d.session.turn_in_flight
    assert d.session.status is ConnectionStatus.DEGRADED


def test_session_tick_before_the_stability_window_keeps_the_failure_count() -> None:
    d = Driver(live_connect_attempts=2)
    d.live_up(0.0)
    d.session.live_closed(d.session.live_generation, "closed", 1.0)  # up 1 s: one failure
    d.session.live_opened(d.session.live_generation, 2.0)
    assert d.session.next_deadline() == 12.0  # the stability window ends before the ping
    d.session.tick(5.0)  # up 3 s: not stable yet
    d.drain()
    assert not d.of(SendPing)
    assert d.session.next_deadline() == 12.0
    d.session.live_closed(d.session.live_generation, "closed", 6.0)  # the second failure
    d.drain()
    assert d.session.tier is Tier.REST
    assert "soon after opening" in d.of(TierChanged)[-1].reason


def test_session_rest_turn_has_no_inactivity_deadline() -> None:
    d = Driver(pinned=Tier.REST)
    d.session.start(0.0)
    d.session.begin_turn("Hi", 1.0)
    d.drain()
    assert d.session.turn_phase is TurnPhase.SENDING
    assert d.session.next_deadline() == 121.0  # the turn deadline only: no stall to watch
    d.session.tick(40.0)  # past the 30 s inactivity window
    actions, events = d.drain()
    assert (actions, events) == ([], [])
    assert d.session.turn_phase is TurnPhase.SENDING


def test_session_demotion_after_a_resend_on_live_checks_history_before_sending() -> None:
    d = Driver()
    d.live_up(0.0)
    d.session.begin_turn("Hi", 1.0)
    d.session.live_closed(d.session.live_generation, "dropped", 1.5)  # before the ack
    d.answer_history(1.6, history())  # not stored: send once more, once live is back
    assert d.session.turn_phase is TurnPhase.WAITING_LINK
    assert len(d.of(SendLive)) == 1
    d.session.live_connect_failed(d.session.live_generation, 403, "refused", 2.0)
    d.drain()
    assert d.session.tier is Tier.REST
    assert d.session.turn_phase is TurnPhase.CHECKING
    check = d.last(FetchHistory)
    assert (check.purpose, check.tier, check.delay_s) == ("check", Tier.REST, 0.0)
    assert not d.of(SendRest)
    # the live send arrived after all: found in history, so it is never sent again
    d.answer_history(2.1, history(("u1", "user", "Hi")))
    assert d.session.turn_phase is TurnPhase.RECOVERING
    assert not d.of(SendRest)
    assert d.last(FetchHistory).purpose == "poll"


def test_session_closed_before_it_started_stays_offline() -> None:
    d = Driver(pinned=Tier.REST)
    d.session.close(0.0)
    d.drain()
    d.session.start(1.0)
    actions, events = d.drain()
    assert actions == []
    assert d.session.status is ConnectionStatus.OFFLINE
    assert all(e.status is ConnectionStatus.OFFLINE for e in events if isinstance(e, StatusChanged))
    assert not d.of(CloseLive)


def test_transcript_matches_by_the_message_a_reply_answers_when_the_backend_says() -> None:
    history_ = [
        Message("g", "assistant", "Hello"),
        Message("u0", "user", "Stopped question"),
        Message("u1", "user", "Failed question"),  # acknowledged, never answered
        Message("s", "system", "Consultation resumed"),
        Message("u2", "user", "Q"),
        Message("a0", "assistant", "Answer to the stopped question", reply_to="u0"),
        Message("a2", "assistant", "Answer to Q", reply_to="u2"),
    ]
    match = find_turn(history_, "Q", 4)
    assert match.user_message == history_[4]
    assert match.reply == history_[6]
    # without ids, order: two messages wait ahead of this one, so its reply is not stored yet
    plain = [Message(x.id, x.role, x.content) for x in history_]
    assert find_turn(plain, "Q", 4).reply is None
    # a whole reply frame's id that answers another message is not taken
    assert find_turn(history_, "Q", 4, reply_id="a0").reply == history_[6]


def test_wire_error_info_without_a_usable_message_falls_back() -> None:
    assert error_info({"message": ""}, "Request failed (500)") == ErrorInfo("Request failed (500)")
    assert error_info({"message": 7, "code": "X"}, "fallback") == ErrorInfo("fallback")
    assert error_info({"detail": "Not Found"}, "fallback") == ErrorInfo("fallback")


def test_session_keepalive_drops_the_live_link_when_its_pong_is_late() -> None:
    d = Driver(app_ping_interval_s=20.0, app_pong_timeout_s=5.0)
    d.live_up(0.0)
    d.session.tick(20.0)
    d.drain()
    ping = d.last(SendPing)
    assert d.session.next_deadline() == 25.0  # the pong is due before the next ping
    d.session.tick(24.9)
    d.drain()
    assert not d.of(CloseLive)
    d.session.tick(25.0)
    d.drain()
    close = d.last(CloseLive)
    assert (close.generation, close.abrupt) == (ping.generation, True)
    assert "no pong within 5 s" in close.reason
    assert d.last(ConnectLive).generation > ping.generation  # reconnecting
    assert d.session.status is ConnectionStatus.RECONNECTING


def test_session_keepalive_answered_by_a_pong_keeps_the_link() -> None:
    d = Driver(app_ping_interval_s=20.0, app_pong_timeout_s=5.0)
    d.live_up(0.0)
    d.session.tick(20.0)
    d.frames(20.1, {"type": "pong"})
    assert d.session.next_deadline() == 40.0
    d.session.tick(30.0)
    d.drain()
    assert not d.of(CloseLive)
    assert d.session.status is ConnectionStatus.CONNECTED
