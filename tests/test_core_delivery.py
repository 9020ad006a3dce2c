"""How a turn is delivered, with fake time and no I/O: replies completed without their stored
copy, background reads, driver tasks that fail, frames that are not this turn's, split
characters."""

from __future__ import annotations

from typing import Any

from lume_widget.core.actions import CloseLive, FetchHistory, SendPing
from lume_widget.core.events import (
    ChunkReceived,
    ConnectionStatus,
    HistoryLoaded,
    ReplyCompleted,
    Tier,
    TurnFailed,
)
from lume_widget.core.requests import BACKGROUND_READS
from lume_widget.core.session import TurnPhase
from lume_widget.core.settings import Settings
from lume_widget.errors import (
    AuthenticationError,
    InvalidInputError,
    LumeError,
    ServerError,
)
from tests.test_core_session import CID, Driver, history

GRACE = Settings().reconcile_grace_s


def _reconciling() -> Driver:
    """A live turn whose reply streamed whole ("Hel"): its stored copy is being read."""
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.frames(1.1, {"type": "stream_chunk", "content": "Hel"}, {"type": "stream_complete"})
    assert d.session.turn_phase is TurnPhase.RECONCILING
    return d


def _replies(d: Driver) -> list[Any]:
    return [e.reply for e in d.of(ReplyCompleted)]


def test_delivery_reconcile_grace_completes_with_the_text_in_hand() -> None:
    d = _reconciling()
    assert d.session.next_deadline() == 1.1 + GRACE
    d.session.tick(1.0 + GRACE)  # not yet: the read is still awaited
    d.drain()
    assert not _replies(d)
    d.session.tick(1.1 + GRACE)
    d.drain()
    [reply] = _replies(d)
    assert (reply.text, reply.message_id) == ("Hel", "")
    background = d.last(FetchHistory)
    assert (background.purpose, background.offset) == ("reconcile", 0)


def test_delivery_background_reads_stop_after_their_budget() -> None:
    d = _reconciling()
    d.session.tick(1.1 + GRACE)
    d.drain()
    reads = []
    for attempt in range(BACKGROUND_READS):
        read = d.last(FetchHistory)
        reads.append(read)
        d.session.history_failed(read.request_id, None, None, "down", 20.0 + attempt)
        d.drain()
    assert len({r.request_id for r in reads}) == BACKGROUND_READS
    assert d.last(FetchHistory) is reads[-1]  # the last failure asks for no more
    assert d.session.status is ConnectionStatus.CONNECTED


def test_delivery_background_read_lets_the_transcript_adopt_the_stored_reply() -> None:
    d = _reconciling()
    d.session.tick(1.1 + GRACE)
    d.drain()
    stored = history(("u1", "user", "Hi"), ("a1", "assistant", "Hello"))
    d.session.history_received(d.last(FetchHistory).request_id, stored, 12.0)
    d.drain()
    assert [m.id for m in d.session.transcript.messages] == ["g", "u1", "a1"]
    assert d.of(HistoryLoaded)


def test_delivery_history_without_the_reply_past_the_grace_completes_the_turn() -> None:
    d = _reconciling()
    read = d.last(FetchHistory)
    d.session.history_received(read.request_id, history(("u1", "user", "Hi")), 1.1 + GRACE)
    d.drain()
    [reply] = _replies(d)
    assert reply.text == "Hel"


def test_delivery_refused_read_of_a_complete_reply_completes_it() -> None:
    d = _reconciling()
    d.session.history_failed(d.last(FetchHistory).request_id, 404, None, "not found", 1.2)
    d.drain()
    assert [r.text for r in _replies(d)] == ["Hel"]
    assert not d.of(TurnFailed)


def test_delivery_failed_read_past_the_grace_completes_the_reply() -> None:
    d = _reconciling()
    d.session.history_failed(d.last(FetchHistory).request_id, 502, None, "bad", 1.1 + GRACE)
    d.drain()
    assert [r.text for r in _replies(d)] == ["Hel"]


def test_delivery_reply_not_stored_fails_the_turn_keeping_its_text() -> None:
    d = _reconciling()
    read = d.last(FetchHistory)
    d.session.history_failed(read.request_id, 503, None, "x", 1.2, code="REPLY_NOT_STORED")
    d.drain()
    [failed] = d.of(TurnFailed)
    assert isinstance(failed.error, ServerError)
    assert failed.error.code == "REPLY_NOT_STORED"
    assert failed.error.partial_text == "Hel"


def test_delivery_task_failure_of_a_complete_reply_completes_it() -> None:
    d = _reconciling()
    d.session.task_failed("history", RuntimeError("boom"), 1.3)
    d.drain()
    assert [r.text for r in _replies(d)] == ["Hel"]


def test_delivery_task_failure_ends_the_turn_with_a_lume_error_keeping_the_text() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.session.task_failed("send", RuntimeError("boom"), 1.1)
    d.drain()
    [failed] = d.of(TurnFailed)
    assert type(failed.error) is LumeError
    assert "send: RuntimeError" in failed.error.message
    assert failed.error.unsent_text == "Hi"


def test_delivery_task_failure_with_a_lume_error_keeps_it_and_the_text() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.frames(1.1, {"type": "stream_chunk", "content": "Par"})
    error = InvalidInputError("The answer could not be read.")
    d.session.task_failed("history", error, 1.2)
    d.drain()
    [failed] = d.of(TurnFailed)
    assert failed.error is error
    assert (error.unsent_text, error.partial_text) == (None, "Par")


def test_delivery_credentials_gone_mid_turn_fail_it_with_an_authentication_error() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    gone = AuthenticationError("Log in again.", status=401, code="REFRESH_REVOKED")
    d.session.credentials_failed(gone, 1.1)
    d.drain()
    [failed] = d.of(TurnFailed)
    assert isinstance(failed.error, AuthenticationError)
    assert (failed.error.code, failed.error.unsent_text) == ("REFRESH_REVOKED", "Hi")
    assert d.session.status is ConnectionStatus.ERROR


def test_delivery_credentials_gone_while_idle_set_the_status_to_error() -> None:
    d = Driver()
    d.live_up()
    d.session.credentials_failed(AuthenticationError("Log in again."), 1.0)
    d.drain()
    assert d.session.status is ConnectionStatus.ERROR


def test_delivery_task_outcomes_after_close_change_nothing() -> None:
    d = Driver()
    d.live_up()
    d.session.close(1.0)
    d.drain()
    d.session.task_failed("send", RuntimeError("late"), 1.1)
    d.session.credentials_failed(AuthenticationError("Log in again."), 1.1)
    assert d.drain() == ([], [])
    assert d.session.status is ConnectionStatus.OFFLINE


def test_delivery_task_failure_while_idle_changes_nothing() -> None:
    d = Driver()
    d.live_up()
    d.session.task_failed("history", RuntimeError("boom"), 1.0)
    assert d.drain() == ([], [])


def test_delivery_drops_frames_of_another_consultation() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.frames(1.1, {"type": "stream_chunk", "content": "x", "consultation_id": "other"})
    other = {"id": "a9", "role": "assistant", "content": "no", "consultation_id": "other"}
    d.frames(1.2, {"type": "message", "message": other})
    assert d.session.frames_dropped == 2
    assert not d.of(ChunkReceived)
    assert d.session.turn_phase is TurnPhase.SENT


def test_delivery_own_consultation_frames_are_told_apart_by_id_case_insensitively() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.frames(1.1, {"type": "stream_chunk", "content": "x", "consultation_id": CID.upper()})
    assert [c.text for c in d.of(ChunkReceived)] == ["x"]


def test_delivery_a_pong_on_the_legacy_channel_does_not_answer_the_live_keepalive() -> None:
    d = Driver()
    d.live_up()
    interval = Settings().app_ping_interval_s
    d.session.tick(interval)
    d.drain()
    assert d.of(SendPing)
    d.session.legacy_message_received(d.session.legacy_generation, '{"type": "pong"}', interval)
    d.session.tick(interval + Settings().app_pong_timeout_s)
    d.drain()
    assert d.last(CloseLive).abrupt


def test_delivery_unreadable_whole_message_while_idle_is_ignored() -> None:
    d = Driver()
    d.live_up()
    d.frames(1.0, {"type": "message", "message": {"id": "x"}})
    assert [m.id for m in d.session.transcript.messages] == ["g"]
    assert d.session.frames_dropped == d.session.frames_skipped == 0


def _whole(message_id: str, **extra: Any) -> dict[str, Any]:
    body = {"id": message_id, "role": "assistant", "content": "Whole", **extra}
    return {"type": "message", "message": body}


def test_delivery_a_known_whole_message_is_not_the_reply() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.frames(1.1, {"type": "message", "message": {"id": "g", "role": "assistant", "content": "H"}})
    assert d.session.turn_phase is TurnPhase.SENT
    assert not _replies(d)


def test_delivery_a_whole_reply_to_another_user_message_is_kept_aside() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.frames(1.1, {"type": "message", "message": {"id": "u1", "role": "user", "content": "Hi"}})
    d.frames(1.2, _whole("a0", reply_to="u0"))
    assert d.session.turn_phase is TurnPhase.SENT
    assert [m.id for m in d.session.transcript.messages] == ["g", "a0"]
    d.frames(1.3, _whole("a1", reply_to="u1"))
    assert d.session.turn_phase is TurnPhase.RECONCILING


def test_delivery_a_whole_reply_to_a_message_before_the_turn_is_not_its_reply() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.frames(1.1, _whole("a0", reply_to="g"))
    assert d.session.turn_phase is TurnPhase.SENT
    d.frames(1.2, _whole("a1", reply_to="u-new"))  # answers a message not seen yet: ours
    assert d.session.turn_phase is TurnPhase.RECONCILING


def test_delivery_joins_a_character_split_across_two_chunks() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.frames(1.1, {"type": "stream_chunk", "content": "a\ud83d"})
    assert d.session._turn is not None
    assert d.session._turn.partial_text == "a\ufffd"  # shown as U+FFFD until the rest comes
    d.frames(1.2, {"type": "stream_chunk", "content": "\ude00b"})
    assert [c.text for c in d.of(ChunkReceived)] == ["a", "\U0001f600b"]


def test_delivery_tier_of_history_reads_follows_the_tier() -> None:
    d = Driver(pinned=Tier.LEGACY)
    d.session.start(0.0)
    d.drain()
    d.session.begin_turn("Hi", 1.0)
    d.drain()
    d.session.send_succeeded(d.actions[-1].request_id, None, None, 1.1)
    d.drain()
    assert d.last(FetchHistory).tier is Tier.LEGACY


def test_delivery_failed_read_of_a_complete_reply_within_the_grace_reads_again() -> None:
    d = _reconciling()
    first = d.last(FetchHistory)
    d.session.history_failed(first.request_id, 502, None, "bad gateway", 1.2)
    d.drain()
    again = d.last(FetchHistory)
    assert again.request_id != first.request_id
    assert again.purpose == "reconcile"
    assert again.delay_s > 0
    assert not _replies(d)


def test_delivery_pings_while_a_pong_is_due_keep_its_deadline() -> None:
    d = Driver(app_ping_interval_s=1.0, app_pong_timeout_s=2.5)
    d.live_up()
    d.session.tick(1.0)  # first ping: its pong is due at 3.5
    d.session.tick(2.0)  # a second ping does not push the deadline back
    d.drain()
    assert len(d.of(SendPing)) == 2
    assert d.session.next_deadline() == 3.0  # the next ping; the pong is due at 3.5
    d.session.tick(3.5)
    d.drain()
    assert d.last(CloseLive).abrupt
