"""The answer to a consultation's initial message: a turn of its own, matched after the
initial message by identity and order, never taken for the first user turn's reply."""

from __future__ import annotations

import json

import pytest

from lume_widget.core.actions import FetchHistory, SendLive
from lume_widget.core.events import (
    ConnectionStatus,
    ReplyCompleted,
    Tier,
    TurnFailed,
    UserMessageStored,
)
from lume_widget.core.models import Message
from lume_widget.core.session import IllegalTransition, Session, TurnPhase
from lume_widget.core.settings import Settings
from lume_widget.errors import TurnCancelledError
from tests.test_core_session import CID, Driver

OPENING = Message("u0", "user", "Hi, I want to eat better")


def opened(*messages: Message, pinned: Tier | None = None) -> Driver:
    """A session of a consultation created at 0.0 with an initial message, started at 0.2."""
    d = Driver(pinned=pinned)
    d.session = Session(
        CID, Settings(), pinned=pinned, history=[OPENING, *messages], random=lambda: 1.0
    )
    d.session.start(0.2)
    d.session.begin_initial_turn(OPENING.content, 0.0, 0.2)
    d.drain()
    return d


def test_initial_turn_reply_already_stored_completes_at_once() -> None:
    d = opened(Message("a0", "assistant", "Glad to help", reply_to="u0"))
    reply = d.of(ReplyCompleted)[0].reply
    assert reply.turn_id == d.session.initial_turn_id == "turn-1"
    assert (reply.text, reply.message_id, reply.user_message_id) == ("Glad to help", "a0", "u0")
    assert reply.ttft_s == pytest.approx(0.2)  # from the create request
    assert d.of(UserMessageStored)[0].turn_id == "turn-1"
    assert not d.session.turn_in_flight


def test_initial_turn_polls_then_the_first_turn_gets_its_own_reply() -> None:
    d = opened(pinned=Tier.REST)
    assert d.session.turn_phase is TurnPhase.RECOVERING
    assert d.session.status is ConnectionStatus.STREAMING
    with pytest.raises(IllegalTransition):
        d.session.begin_turn("What is a balanced lunch?", 0.3)  # one turn at a time
    d.answer_history(1.0, [OPENING])  # not answered yet: poll again
    answer = Message("a0", "assistant", "Glad to help")
    d.answer_history(2.5, [OPENING, answer])
    initial = d.of(ReplyCompleted)[0].reply
    assert (initial.message_id, initial.tier) == ("a0", Tier.REST)
    assert initial.ttft_s == pytest.approx(2.5)
    d.session.begin_turn("What is a balanced lunch?", 3.0)
    d.drain()
    asked = Message("u1", "user", "What is a balanced lunch?")
    d.session.send_succeeded(d.actions[-1].request_id, asked, None, 3.1)
    d.answer_history(4.0, [OPENING, answer, asked, Message("a1", "assistant", "Half greens")])
    first = d.of(ReplyCompleted)[1].reply
    assert (first.turn_id, first.message_id, first.user_message_id) == ("turn-2", "a1", "u1")


def test_initial_turn_takes_its_whole_message_frame_on_live() -> None:
    d = opened()
    d.session.live_opened(d.session.live_generation, 0.3)
    d.drain()
    assert not d.of(SendLive)  # the server has the message: nothing is sent
    answer = Message("a0", "assistant", "Glad to help", reply_to="u0")
    frame = json.dumps({"type": "message", "message": answer.to_dict()})
    d.session.message_received(d.session.live_generation, frame, 0.8)
    d.drain()
    assert d.last(FetchHistory).purpose == "reconcile"
    d.answer_history(0.9, [OPENING, answer])
    reply = d.of(ReplyCompleted)[0].reply
    assert (reply.message_id, reply.tier) == ("a0", Tier.LIVE)
    assert reply.ttft_s == pytest.approx(0.8)
    assert d.session.status is ConnectionStatus.CONNECTED


def test_initial_turn_comes_first_and_once_and_can_be_stopped() -> None:
    d = opened()
    with pytest.raises(IllegalTransition):
        d.session.begin_initial_turn(OPENING.content, 0.0, 0.3)
    d.session.cancel_turn(0.4)
    d.drain()
    failed = d.of(TurnFailed)[0]
    assert failed.turn_id == "turn-1"
    assert isinstance(failed.error, TurnCancelledError)
    assert failed.error.unsent_text is None  # the server has it


PROMPT = Message("q0", "user", "Can you suggest a realistic wellness goal for me?")


def quick(*messages: Message, pinned: Tier | None = None) -> tuple[Driver, str | None]:
    """A session of a consultation created at 0.0 with a quick action, started at 0.2."""
    d = Driver(pinned=pinned)
    d.session = Session(CID, Settings(), pinned=pinned, history=list(messages), random=lambda: 1.0)
    d.session.start(0.2)
    turn = d.session.begin_quick_action_turn(0.0, 0.2)
    d.drain()
    return d, turn


def test_quick_action_prompt_stored_makes_its_answer_the_initial_turn_by_order() -> None:
    d, turn = quick(PROMPT, pinned=Tier.REST)
    assert turn == d.session.initial_turn_id == "turn-1"
    assert d.of(UserMessageStored)[0].message.id == "q0"  # by identity: the stored prompt
    answer = Message("a0", "assistant", "Walk ten minutes a day")  # no reply_to: by order
    d.answer_history(1.0, [PROMPT, answer])
    initial = d.of(ReplyCompleted)[0].reply
    assert (initial.turn_id, initial.message_id, initial.user_message_id) == ("turn-1", "a0", "q0")
    d.session.begin_turn("What is a balanced lunch?", 2.0)
    d.drain()
    asked = Message("u1", "user", "What is a balanced lunch?")
    d.session.send_succeeded(d.actions[-1].request_id, asked, None, 2.1)
    d.answer_history(3.0, [PROMPT, answer, asked, Message("a1", "assistant", "Half greens")])
    first = d.of(ReplyCompleted)[1].reply
    assert (first.turn_id, first.message_id, first.user_message_id) == ("turn-2", "a1", "u1")


def test_quick_action_whole_frame_without_reply_to_is_the_initial_turns_on_live() -> None:
    d, turn = quick(PROMPT)
    d.session.live_opened(d.session.live_generation, 0.3)
    d.drain()
    answer = Message("a0", "assistant", "Walk ten minutes a day")
    frame = json.dumps({"type": "message", "message": answer.to_dict()})
    d.session.message_received(d.session.live_generation, frame, 0.8)
    d.drain()
    d.answer_history(0.9, [PROMPT, answer])
    assert d.of(ReplyCompleted)[0].reply.turn_id == turn


def test_quick_action_without_a_stored_prompt_makes_no_initial_turn() -> None:
    greeting = Message("g0", "assistant", "Hello! How can I help?")
    for history in ((), (greeting,)):
        d, turn = quick(*history, pinned=Tier.REST)
        assert turn is None
        assert d.session.initial_turn_id is None
        assert not d.session.turn_in_flight
        d.session.begin_turn("What is a balanced lunch?", 0.3)  # nothing to wait for
        d.drain()
        assert d.session.turn_in_flight
