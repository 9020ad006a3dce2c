"""Finding a turn in the server's history by position, and keeping the transcript deduplicated."""

from __future__ import annotations

from lume_widget.core.models import Message
from lume_widget.core.transcript import Transcript, find_turn


def m(i: str, role: str, content: str) -> Message:
    return Message(i, role, content)


HISTORY = [
    m("g", "assistant", "Hello"),
    m("u1", "user", "Same question"),
    m("a1", "assistant", "First answer"),
    m("u2", "user", "Same question"),
]


def test_transcript_reply_must_follow_this_user_message_not_be_the_last_assistant() -> None:
    # the last assistant message answers the earlier, identical question: not ours
    match = find_turn(HISTORY, "Same question", baseline=3)
    assert match.user_message == HISTORY[3]
    assert match.reply is None
    done = find_turn([*HISTORY, m("a2", "assistant", "Second")], " Same question ", baseline=3)
    assert done.reply is not None
    assert done.reply.id == "a2"


def test_transcript_finds_the_user_message_by_id_first() -> None:
    match = find_turn([*HISTORY, m("a2", "assistant", "x")], "other text", 0, user_message_id="u2")
    assert match.user_message is not None
    assert match.user_message.id == "u2"
    assert find_turn(HISTORY, "missing", 0).user_message is None
    assert find_turn(HISTORY, "Same question", 99).user_message is None


def test_transcript_replace_dedupes_and_reports_changes() -> None:
    transcript = Transcript([HISTORY[0]])
    assert transcript.replace([*HISTORY, HISTORY[1]])
    assert [x.id for x in transcript.messages] == ["g", "u1", "a1", "u2"]
    assert not transcript.replace(HISTORY)
    assert len(transcript) == 4
    assert not transcript.add(HISTORY[0])
    assert transcript.add(m("n", "assistant", "pushed"))


def test_transcript_reply_to_an_earlier_waiting_message_is_not_taken() -> None:
    # an earlier message (a stopped turn's) still waits: its reply comes first, by order
    history = [
        m("g", "assistant", "Hello"),
        m("u1", "user", "Tell me everything"),
        m("u2", "user", "Short version"),
        m("a1", "assistant", "Everything..."),
    ]
    pending = find_turn(history, "Short version", 2)
    assert pending.user_message is not None
    assert pending.reply is None
    done = find_turn(
        [*history, m("a2", "assistant", "Short.")],
        "Short version",
        2,
    )
    assert done.reply is not None
    assert done.reply.id == "a2"
    # once the earlier reply came before this question, nothing waits ahead of it
    settled = [
        *history[:2],
        m("a1", "assistant", "x"),
        m("u2", "user", "Q"),
        m("a2", "assistant", "y"),
    ]
    assert find_turn(settled, "Q", 3).reply == settled[-1]


def test_transcript_streamed_text_picks_the_reply_when_a_stopped_one_lands_later() -> None:
    history = [
        m("u1", "user", "Tell me everything"),
        m("u2", "user", "Short version"),
        m("a2", "assistant", "Short."),  # ours finished first
    ]
    assert find_turn(history, "Short version", 1, draft="Short.").reply == history[2]
    later = [*history, m("a1", "assistant", "Everything, at length.")]
    assert find_turn(later, "Short version", 1, draft="Short.").reply == history[2]
    # the stopped reply stored first and ours not yet: wait rather than take the wrong one
    other = [*history[:2], m("a1", "assistant", "Everything, at length.")]
    assert find_turn(other, "Short version", 1, draft="Short.").reply is None
    # a whole reply frame's id wins outright
    assert find_turn(later, "Short version", 1, reply_id="a2").reply == history[2]


def test_transcript_holding_the_newest_part_keeps_its_offset_through_pages() -> None:
    transcript = Transcript([m("m10", "user", "a"), m("m11", "assistant", "b")], offset=10)
    assert (transcript.offset, transcript.end, len(transcript)) == (10, 12, 2)
    assert transcript.replace_from(12, [m("m12", "user", "c")])  # a page from the end: joined
    assert [x.id for x in transcript.messages] == ["m10", "m11", "m12"]
    assert transcript.offset == 10
    assert transcript.replace_from(11, [m("m11b", "assistant", "b2")])  # replaces from there
    assert [x.id for x in transcript.messages] == ["m10", "m11b"]
    assert not transcript.replace_from(10, transcript.messages)  # the same page: no change
    assert transcript.replace_from(8, [m("m8", "user", "x")])  # from before the first held
    assert (transcript.offset, [x.id for x in transcript.messages]) == (8, ["m8"])
    assert transcript.replace([m("m8", "user", "x")])  # the same messages, now the whole history
    assert (transcript.offset, transcript.end) == (0, 1)
