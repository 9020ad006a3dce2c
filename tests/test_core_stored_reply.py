"""``await_stored_reply`` off: a streamed reply completes with its text, and is matched to its
stored copy on the next history read, by content and order."""

from __future__ import annotations

from lume_widget.core.actions import FetchHistory
from lume_widget.core.events import ReplyCompleted
from lume_widget.core.requests import UNMATCHED_LIMIT
from tests.test_core_session import Driver, history


def _streamed(d: Driver, now: float, text: str = "Hi", reply: str = "Hello!") -> None:
    d.session.begin_turn(text, now)
    d.drain()
    d.frames(
        now + 0.1,
        {"type": "message_received"},
        {"type": "stream_chunk", "content": reply[:3]},
        {"type": "stream_chunk", "content": reply[3:]},
        {"type": "stream_complete", "metadata": {"processing_time_ms": 5}},
    )


def test_session_streamed_reply_not_awaiting_its_stored_copy_completes_without_a_read() -> None:
    d = Driver(await_stored_reply=False)
    d.live_up()
    _streamed(d, 1.0)
    assert not d.of(FetchHistory)
    reply = d.of(ReplyCompleted)[0].reply
    assert (reply.text, reply.message_id, reply.user_message_id) == ("Hello!", "", None)
    assert reply.metadata["processing_time_ms"] == 5
    assert d.session.turn_phase is None
    assert [m.id for m in d.session.transcript.messages] == ["g"]  # not read yet


def test_session_awaiting_the_stored_copy_is_the_default() -> None:
    d = Driver()
    d.live_up()
    _streamed(d, 1.0)
    assert d.last(FetchHistory).purpose == "reconcile"
    assert not d.of(ReplyCompleted)


def test_session_streamed_replies_are_matched_by_the_next_read_of_the_history() -> None:
    d = Driver(await_stored_reply=False)
    d.live_up()
    _streamed(d, 1.0)
    _streamed(d, 2.0)
    stored = history(
        ("u1", "user", "Hi"), ("a1", "assistant", "Hello!"),
        ("u2", "user", "Hi"), ("a2", "assistant", "Hello!"),
    )  # fmt: skip
    d.session.history_received(0, stored, 3.0)
    d.drain()
    assert [m.id for m in d.session.transcript.messages] == ["g", "u1", "a1", "u2", "a2"]
    assert not d.session.requests.unmatched


def test_session_turn_read_skips_the_messages_of_earlier_streamed_replies() -> None:
    """Two turns completed with their text, a third with the same text loses the live link
    mid-reply: its own read finds its messages, never the identical earlier ones."""
    d = Driver(await_stored_reply=False)
    d.live_up()
    _streamed(d, 1.0)
    _streamed(d, 2.0)
    d.session.begin_turn("Hi", 3.0)
    d.drain()
    d.frames(3.1, {"type": "message_received"}, {"type": "stream_chunk", "content": "Hel"})
    d.session.live_closed(d.session.live_generation, "dropped", 3.2)
    d.drain()
    read = d.last(FetchHistory)
    assert read.offset == 1  # from where the first unmatched turn began
    stored = history(
        ("u1", "user", "Hi"), ("a1", "assistant", "Hello!"),
        ("u2", "user", "Hi"), ("a2", "assistant", "Hello!"),
        ("u3", "user", "Hi"), ("a3", "assistant", "Hello!"),
    )  # fmt: skip
    d.session.history_received(read.request_id, stored, 3.5)
    d.drain()
    replies = [event.reply for event in d.of(ReplyCompleted)]
    assert [(r.message_id, r.user_message_id) for r in replies] == [
        ("", None),
        ("", None),
        ("a3", "u3"),
    ]
    assert not d.session.requests.unmatched


def test_session_unmatched_reply_not_stored_yet_waits_for_a_later_read() -> None:
    d = Driver(await_stored_reply=False)
    d.live_up()
    _streamed(d, 1.0)
    _streamed(d, 2.0, text="Tea?", reply="Green tea.")
    d.session.history_received(0, history(("u1", "user", "Hi"), ("a1", "assistant", "Hello!")), 3)
    d.drain()
    assert [u.text for u in d.session.requests.unmatched] == ["Tea?"]
    later = history(
        ("u1", "user", "Hi"), ("a1", "assistant", "Hello!"),
        ("u2", "user", "Tea?"), ("a2", "assistant", "Green tea."),
    )  # fmt: skip
    d.session.history_received(0, later, 4.0)
    d.drain()
    assert not d.session.requests.unmatched


def test_session_many_unmatched_replies_ask_for_one_read_to_catch_up() -> None:
    d = Driver(await_stored_reply=False)
    d.live_up()
    for index in range(UNMATCHED_LIMIT):
        _streamed(d, 1.0 + index, text=f"Question {index}")
    assert not d.of(FetchHistory)
    _streamed(d, 100.0, text="One more")
    (read,) = d.of(FetchHistory)
    assert (read.purpose, read.offset, read.delay_s) == ("catch up", 1, 0.0)
    _streamed(d, 101.0, text="And another")
    assert len(d.of(FetchHistory)) == 1  # one read in flight at a time
    stored = [(f"u{i}", f"Question {i}", f"a{i}") for i in range(UNMATCHED_LIMIT)]
    messages = history(*[m for u, q, a in stored for m in ((u, "user", q), (a, "assistant", "Hello!"))])
    d.session.history_received(read.request_id, messages[1:], 102.0, start=1)
    d.drain()
    assert [u.text for u in d.session.requests.unmatched] == ["One more", "And another"]
    assert len(d.session.transcript.messages) == 1 + 2 * UNMATCHED_LIMIT
