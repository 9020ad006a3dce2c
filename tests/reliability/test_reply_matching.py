"""Replies are matched to turns by identity and order, never by position and hope.

Real loopback sockets; the hostile backend is the reference server behind a relay that
rewrites its frames, or the reference server with a fault on:
- frames of another consultation (a chunk, an error) are dropped, not streamed as ours;
- late frames of an earlier reply that arrive during the next turn are dropped;
- a REST message acknowledged and never answered does not make the next turn time out;
- a slow answer to ``initial_message`` is a reply of its own (``initial_reply()``), never
  taken for the first turn's, on live and rest.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from typing import Any

import pytest

from lume_widget.core.events import (
    ConnectionStatus,
    Event,
    Reply,
    ReplyCompleted,
    Tier,
    TurnFailed,
    UserMessageStored,
)
from lume_widget.errors import LumeError, TurnTimeoutError
from lume_widget.server import ReferenceServer
from tests.reliability.conftest import Figures
from tests.reliability.harness import client_settings, rig

OTHER = str(uuid.uuid4())


def _other_consultation_frames(opcode: int, payload: bytes) -> list[tuple[int, bytes]]:
    """Each chunk is preceded by a chunk and an error of another consultation."""
    if opcode != 1 or b'"stream_chunk"' not in payload:
        return [(opcode, payload)]
    event = json.loads(payload)
    intruder = {**event, "consultation_id": OTHER, "content": "INTRUDER "}
    error = {"type": "error", "consultation_id": OTHER, "error": "not yours", "code": "AI_ERROR"}
    return [
        (1, json.dumps(intruder).encode()),
        (1, json.dumps(error).encode()),
        (opcode, payload),
    ]


async def test_frames_of_another_consultation_are_dropped(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    async with rig(reference_server, time_scale, frame_transform=_other_consultation_frames) as r:
        await r.wait_status(ConnectionStatus.CONNECTED)
        record = await r.turn("What is a balanced lunch?")
        assert record.error is None, record.error
        streamed = "".join(c.text for c in record.chunks)
        assert "INTRUDER" not in streamed
        assert r.chat.frames_dropped >= 2 * len(record.chunks)
        await r.check()
        await r.close()


class LateFrames:
    """Keeps the first turn's chunks and replays them right after the second turn's ack."""

    def __init__(self) -> None:
        self.kept: list[bytes] = []
        self.acks = 0

    def __call__(self, opcode: int, payload: bytes) -> list[tuple[int, bytes]]:
        if opcode != 1:
            return [(opcode, payload)]
        if b'"stream_chunk"' in payload and self.acks == 1:
            late = json.loads(payload)
            late["content"] = "LATE "
            self.kept.append(json.dumps(late).encode())
        if b'"message_received"' in payload:
            self.acks += 1
            if self.acks == 2:
                return [(opcode, payload), *[(1, kept) for kept in self.kept]]
        return [(opcode, payload)]


async def test_late_frames_of_an_earlier_reply_are_dropped(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    late = LateFrames()
    async with rig(reference_server, time_scale, frame_transform=late) as r:
        await r.wait_status(ConnectionStatus.CONNECTED)
        await r.turn("What is a balanced lunch?")
        record = await r.turn("And a balanced dinner?")
        assert late.kept
        assert "LATE" not in "".join(c.text for c in record.chunks)
        assert r.chat.frames_dropped >= len(late.kept)
        await r.check()
        await r.close()


async def test_an_unanswered_rest_turn_does_not_hold_up_the_next_one(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    settings = dataclasses.replace(
        client_settings(time_scale), turn_deadline_s=1.0 * time_scale, cycle_tiers=False
    )
    async with rig(reference_server, time_scale, tier="rest", settings=settings) as r:
        reference_server.set_faults(drop_replies=True)
        first = await r.turn("Is fruit juice healthy?")
        assert isinstance(first.error, TurnTimeoutError), first.error
        reference_server.clear_faults()
        second = await r.turn("Is tea healthy?")
        assert second.error is None, second.error
        reply = second.replies[0].reply
        stored = await r.server_history()
        asked = next(m for m in stored if m["content"] == "Is tea healthy?")
        answer = next(m for m in stored if m.get("reply_to") == asked["id"])
        assert reply.message_id == answer["id"]
        await r.check(failed_turns=1)
        await r.close()


async def _initial_then_first_turn(
    reference_server: ReferenceServer,
    time_scale: float,
    tier: str,
    figures: Figures,
    **opening: str,
) -> tuple[Reply, Reply, dict[str, Any], list[Event]]:
    """A consultation created with an initial message (or ``opening``: a quick action) the
    model answers slowly, and a first turn asked at once: (the initial reply, the first
    turn's reply, the stored messages by content, the events seen)."""
    delay_s = 0.4 * time_scale
    reference_server.set_faults(reply_delay_ms=int(delay_s * 1000))
    opening = opening or {"initial_message": "Hi, I want to eat better"}
    async with rig(reference_server, time_scale, tier=tier, **opening) as r:
        initial_turn = r.chat.initial_turn_id
        assert initial_turn is not None
        record = await r.turn("What is a balanced lunch?")  # waits for the initial reply
        assert not [e for _, e in record.events if isinstance(e, TurnFailed)]
        initial = await r.chat.initial_reply()
        first = record.replies[0].reply
        assert initial.turn_id == initial_turn != first.turn_id
        assert initial.ttft_s >= delay_s  # measured from the create request
        assert initial.duration_s >= initial.ttft_s
        figures.record(
            f"slow {'quick action' if 'quick_action' in opening else 'initial message'} on {tier}",
            model_delay_s=delay_s,
            initial_ttft_s=round(initial.ttft_s, 3),
            first_turn_duration_s=round(first.duration_s, 3),
        )
        reference_server.clear_faults()
        stored = {m["content"]: m for m in await r.server_history()}
        await r.check()
        events = [e for _, e in r.all_events]
        await r.close()
    return initial, first, stored, events


async def test_a_slow_answer_to_the_initial_message_is_its_own_reply_on_live(
    reference_server: ReferenceServer, time_scale: float, figures: Figures
) -> None:
    initial, first, stored, events = await _initial_then_first_turn(
        reference_server, time_scale, "live", figures
    )
    asked = stored["What is a balanced lunch?"]
    opening = stored["Hi, I want to eat better"]
    assert initial.tier is Tier.LIVE
    assert initial.user_message_id == opening["id"]
    answer = next(m for m in stored.values() if m.get("reply_to") == opening["id"])
    assert (initial.message_id, initial.text) == (answer["id"], answer["content"])
    reply = next(m for m in stored.values() if m.get("reply_to") == asked["id"])
    assert (first.message_id, first.text) == (reply["id"], reply["content"])
    assert first.user_message_id == asked["id"]
    # the events stream tells the initial turn as a turn of its own, once
    ends = [e.reply.turn_id for e in events if isinstance(e, ReplyCompleted)]
    assert ends == [initial.turn_id, first.turn_id]


@pytest.mark.parametrize("tier", [Tier.REST, Tier.LEGACY])
async def test_a_slow_answer_to_the_initial_message_is_its_own_reply_off_live(
    reference_server: ReferenceServer, time_scale: float, figures: Figures, tier: Tier
) -> None:
    initial, first, stored, _ = await _initial_then_first_turn(
        reference_server, time_scale, tier.value, figures
    )
    opening = stored["Hi, I want to eat better"]
    assert initial.tier is tier
    assert first.tier is tier
    assert initial.user_message_id == opening["id"]
    answer = next(m for m in stored.values() if m.get("reply_to") == opening["id"])
    assert initial.message_id == answer["id"]
    assert first.user_message_id == stored["What is a balanced lunch?"]["id"]
    assert first.message_id != initial.message_id


QUICK_PROMPT = (
    "Can you suggest a realistic wellness goal for me based on what matters most right now?"
)


@pytest.mark.parametrize("tier", [Tier.LIVE, Tier.REST])
async def test_a_slow_answer_to_a_quick_action_is_its_own_reply(
    reference_server: ReferenceServer, time_scale: float, figures: Figures, tier: Tier
) -> None:
    initial, first, stored, events = await _initial_then_first_turn(
        reference_server, time_scale, tier.value, figures, quick_action="suggest-goal"
    )
    prompt = stored[QUICK_PROMPT]  # the reference server stores the quick action's prompt
    assert (initial.tier, first.tier) == (tier, tier)
    assert initial.user_message_id == prompt["id"]
    answer = next(m for m in stored.values() if m.get("reply_to") == prompt["id"])
    assert (initial.message_id, initial.text) == (answer["id"], answer["content"])
    asked = stored["What is a balanced lunch?"]
    reply = next(m for m in stored.values() if m.get("reply_to") == asked["id"])
    assert (first.message_id, first.text) == (reply["id"], reply["content"])
    assert first.user_message_id == asked["id"]
    ends = [e.reply.turn_id for e in events if isinstance(e, ReplyCompleted)]
    assert ends == [initial.turn_id, first.turn_id]


async def test_an_unknown_quick_action_makes_no_initial_turn(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    """The app's own ids (``goal_support``) are only recorded: the server stores no prompt
    and answers nothing, so nothing waits and the first turn is the first reply."""
    async with rig(reference_server, time_scale, tier="rest", quick_action="goal_support") as r:
        assert r.chat.initial_turn_id is None
        with pytest.raises(LumeError, match="quick action"):
            await r.chat.initial_reply()
        record = await r.turn("What is a balanced lunch?")
        assert record.replies
        assert record.replies[0].reply.user_message_id is not None
        await r.check()
        await r.close()


async def test_events_replays_an_initial_reply_complete_before_iteration(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    """An iterator of ``events()`` begun after the initial reply completed still gets the
    initial turn first and once, then the later turns as they happen."""
    async with rig(reference_server, time_scale, tier="rest", quick_action="suggest-goal") as r:
        initial = await r.chat.initial_reply()  # complete before anyone iterates
        early = r.chat.events()
        seen = [await anext(early), await anext(early)]
        assert [type(e) for e in seen] == [UserMessageStored, ReplyCompleted]
        assert seen[1].reply == initial  # type: ignore[union-attr]
        record = await r.turn("What is a balanced lunch?")
        first = record.replies[0].reply
        ends: list[str] = []
        while first.turn_id not in ends:
            event = await asyncio.wait_for(anext(early), 10 * time_scale)
            if isinstance(event, ReplyCompleted):
                ends.append(event.reply.turn_id)
        assert ends == [first.turn_id]  # the initial turn was not told again
        await early.aclose()
        await r.check()
        await r.close()
