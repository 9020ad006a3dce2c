"""A ``stream_complete`` that carries the stored reply: the turn completes with no history read."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lume_widget.core.actions import FetchHistory
from lume_widget.core.events import HistoryLoaded, ReplyCompleted, UserMessageStored
from lume_widget.core.wire import parse_frames
from tests.test_core_session import CID, Driver, history


def _stored(content: str = "Hello!", **fields: Any) -> dict[str, Any]:
    message = {"id": "A1", "role": "assistant", "content": content, "reply_to": "U1"}
    message.update(fields)
    return {key: value for key, value in message.items() if value is not None}


def _streamed_turn(d: Driver, complete: dict[str, Any], text: str = "Hi") -> None:
    d.live_up()
    d.session.begin_turn(text, 1.0)
    d.drain()
    d.frames(
        1.1,
        {"type": "message_received", "timestamp": "2025-01-01T00:00:01Z"},
        {"type": "stream_chunk", "content": "Hel", "timestamp": "2025-01-01T00:00:02Z"},
        {"type": "stream_chunk", "content": "lo!", "timestamp": "2025-01-01T00:00:03Z"},
    )
    d.frames(1.3, {"type": "stream_complete", "timestamp": "2025-01-01T00:00:04Z", **complete})


def test_frames_stream_complete_reads_the_stored_message() -> None:
    event = parse_frames(json.dumps({"type": "stream_complete", "message": _stored()}))
    (completed,) = event.events
    assert completed.message is not None  # type: ignore[attr-defined]
    assert (completed.message.id, completed.message.reply_to) == ("a1", "u1")  # type: ignore[attr-defined]


def test_session_stream_complete_with_the_stored_reply_needs_no_history_read() -> None:
    d = Driver()
    _streamed_turn(d, {"message": _stored(consultation_id=CID)})
    assert not d.of(FetchHistory)
    reply = d.of(ReplyCompleted)[0].reply
    assert (reply.text, reply.message_id, reply.user_message_id) == ("Hello!", "a1", "u1")
    assert reply.chunks == 2
    assert d.of(UserMessageStored)[0].message.content == "Hi"
    assert [(m.id, m.role) for m in d.session.transcript.messages] == [
        ("g", "assistant"),
        ("u1", "user"),
        ("a1", "assistant"),
    ]
    assert d.of(HistoryLoaded)[-1].messages == d.session.transcript.messages
    assert d.session.turn_phase is None


@pytest.mark.parametrize(
    "complete",
    [
        {},  # the observed backend: no id at all
        {"message": _stored(reply_to=None)},  # which user message it answers is not said
        {"message": _stored(role="user")},
        {"message": _stored(consultation_id="0b0f2a52-0000-4000-8000-000000000000")},
        {"message": _stored(id="g")},  # an id the transcript already holds: an earlier reply
        {"message": _stored(reply_to="g")},  # answers a message from before this turn
    ],
)
def test_session_stream_complete_without_a_usable_stored_reply_reads_the_history(
    complete: dict[str, Any],
) -> None:
    d = Driver()
    _streamed_turn(d, complete)
    assert d.last(FetchHistory).purpose == "reconcile"
    assert not d.of(ReplyCompleted)
    d.answer_history(1.4, history(("u1", "user", "Hi"), ("a1", "assistant", "Hello!")))
    assert d.of(ReplyCompleted)[0].reply.message_id == "a1"


def test_session_stream_complete_stamped_before_the_ack_is_not_this_turns() -> None:
    d = Driver()
    _streamed_turn(d, {"message": _stored(), "timestamp": "2025-01-01T00:00:00Z"})
    assert d.last(FetchHistory).purpose == "reconcile"


def test_session_stream_complete_answering_another_user_message_reads_the_history() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.drain()
    user = {"id": "u9", "role": "user", "content": "Hi"}
    d.frames(1.1, {"type": "message", "message": user}, {"type": "stream_chunk", "content": "x"})
    d.frames(1.2, {"type": "stream_complete", "message": _stored(content="x")})
    assert d.last(FetchHistory).purpose == "reconcile"  # it answers u1, ours is u9


def test_session_stream_complete_answering_the_known_user_message_completes() -> None:
    d = Driver()
    d.live_up()
    d.session.begin_turn("Hi", 1.0)
    d.drain()
    user = {"id": "U1", "role": "user", "content": "Hi"}
    d.frames(1.1, {"type": "message", "message": user}, {"type": "stream_chunk", "content": "x"})
    d.frames(1.2, {"type": "stream_complete", "message": _stored(content="x")})
    assert not d.of(FetchHistory)
    assert d.of(ReplyCompleted)[0].reply.user_message_id == "u1"
    assert len(d.of(UserMessageStored)) == 1
