"""The scripted responder and quick actions: voices, topics, goals, /long, /markdown."""

from __future__ import annotations

import asyncio
import re

import pytest
from conftest import Api, scaled

from lume_widget.defaults import PERSONAS
from lume_widget.server.persona_texts import VOICES
from lume_widget.server.quick_actions import quick_actions
from lume_widget.server.responders import (
    MAX_LONG_CHUNKS,
    GoalInfo,
    ReplyContext,
    ScriptedResponder,
    classify_topic,
    split_into_chunks,
)

GOAL = GoalInfo(id="g", title="Lose weight", current_value=180, target_value=165, target_unit="lbs")


def reply(persona: str, text: str, **kwargs: object) -> list[str]:
    ctx = ReplyContext(consultation_id="c", persona=persona, user_text=text, **kwargs)  # type: ignore[arg-type]
    return ScriptedResponder().compose(ctx)


def test_responder_chunks_are_one_to_three_words_and_join_exactly() -> None:
    text = "One two  three\n\nfour - five, six.\n| a | b |\n```\ncode\n```"
    chunks = split_into_chunks(text, "seed")
    assert "".join(chunks) == text
    assert all(1 <= len(c.split()) <= 3 for c in chunks)
    assert split_into_chunks(text, "seed") == chunks


@pytest.mark.parametrize("count", [1, 2, 7, 5000])
def test_responder_long_command_gives_exactly_n_chunks(count: int) -> None:
    assert len(reply("general_wellness", f"/long {count}")) == count


def test_responder_long_command_is_capped() -> None:
    assert len(reply("general_wellness", f"/long {MAX_LONG_CHUNKS * 3}")) == MAX_LONG_CHUNKS


def test_responder_markdown_command_has_headings_list_table_and_code() -> None:
    text = "".join(reply("nutritionist", "/markdown please"))
    assert re.search(r"^## ", text, re.M)
    assert re.search(r"^### ", text, re.M)
    assert re.search(r"^1\. ", text, re.M)
    assert re.search(r"^\s*- ", text, re.M)
    assert "| Day | Focus | Minutes |" in text
    assert "|-----|" in text
    assert "```python" in text
    assert "```json" in text


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("What should I have for breakfast?", "breakfast"),
        ("I can't sleep and I'm always tired", "sleep"),
        ("Work stress is making me anxious", "stress"),
        ("Give me a strength workout for the gym", "workout"),
        ("How do I lose 10 pounds?", "weight"),
        ("How much water should I drink?", "hydration"),
        ("Hello there", "general"),
    ],
)
def test_responder_classifies_topics_by_keywords(text: str, topic: str) -> None:
    assert classify_topic(text) == topic


def test_responder_personas_sound_different_and_stay_in_length() -> None:
    texts = {p: "".join(reply(p, "How can I manage stress better?")) for p in PERSONAS}
    assert len(set(texts.values())) == len(PERSONAS)
    for text in texts.values():
        assert 40 <= len(text.split()) <= 400
    for persona, text in texts.items():
        assert VOICES[persona].lens["stress"] in text


def test_responder_is_deterministic() -> None:
    assert reply("nutritionist", "Snack ideas?") == reply("nutritionist", "Snack ideas?")


def test_responder_first_goal_reply_names_title_and_target() -> None:
    first = "".join(
        reply(
            "wellness_specialist",
            "Where do I start?",
            goal=GOAL,
            history=(("assistant", "hi"), ("user", "Where do I start?")),
        )
    )
    assert '"Lose weight"' in first
    assert "165 lbs" in first
    later = "".join(
        reply(
            "wellness_specialist",
            "And dinner?",
            goal=GOAL,
            turn=2,
            history=(
                ("assistant", "hi"),
                ("user", "Where do I start?"),
                ("assistant", "..."),
                ("user", "And dinner?"),
            ),
        )
    )
    assert "165 lbs" not in later
    assert "Lose weight" in later


def test_responder_goal_greeting_names_title_and_target() -> None:
    greeting = ScriptedResponder().greeting("general_wellness", GOAL)
    assert '"Lose weight" (target: 165 lbs)' in greeting
    assert GOAL.describe() == '"Lose weight", target 165 lbs, currently 180 lbs'


def test_quick_actions_filter_by_persona_and_context() -> None:
    everything = quick_actions()
    assert {a["id"] for a in everything} >= {
        "suggest-goal",
        "check-progress",
        "boost-motivation",
        "troubleshoot-goal",
    }
    goal = quick_actions(context_type="goal")
    assert {"troubleshoot-goal", "suggest-goal"} <= {a["id"] for a in goal}
    assert all(a["context_type"] in ("goal", "general") for a in goal)
    coach = quick_actions(persona="fitness_coach")
    assert "design-workout" in {a["id"] for a in coach}
    assert "plan-nutrition" not in {a["id"] for a in coach}


async def test_server_quick_actions_route_and_create_from_quick_action(api: Api) -> None:
    data = await api.data(
        "GET", "/api/v1/consultations/quick-actions", params={"context_type": "goal"}
    )
    action = next(a for a in data["actions"] if a["id"] == "suggest-goal")
    assert set(action) >= {"id", "title", "prompt", "icon", "context_type"}
    created = await api.create("general_wellness", quick_action="suggest-goal")
    assert created["consultation"]["quick_action"] == "suggest-goal"
    assert "greeting_message" not in created
    cid = created["consultation"]["id"]
    async with asyncio.timeout(scaled(10)):
        while True:  # the reply to the quick action's prompt is written in the background
            messages = await api.messages(cid)
            if len(messages) == 2:
                break
            await asyncio.sleep(0.02)
    assert messages[0]["role"] == "user"
    assert messages[0]["content"] == action["prompt"]
    unknown = await api.create("general_wellness", quick_action="goal_support")
    assert unknown["consultation"]["quick_action"] == "goal_support"
    assert unknown["greeting_message"]["role"] == "assistant"
