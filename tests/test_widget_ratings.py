"""Ratings in ChatWidget and "Save as scenario": the chat becomes a file ``lume-widget eval`` runs.

Against the reference server over loopback: replies are rated from Python and from the
front end (anything malformed dropped), ratings go into exports, and the round trip chat
-> scenario -> eval -> compare holds: the written file loads back to the same conversation
(persona, goal fields, the user's turns), runs, and compares with a second run of itself.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from lume_widget.cli import main
from lume_widget.errors import ConfigurationError
from lume_widget.evaluation import load_scenarios
from lume_widget.evaluation.records import read_records
from lume_widget.server import ReferenceServer
from lume_widget.widget import ChatWidget

TRICKY = 'He said "no": # not a comment\nnext line \u2028 😀 \\ end'


def credentials(server: ReferenceServer) -> dict[str, str]:
    return {
        "api_key": server.api_key,
        "email": server.email,
        "password": server.password,
        "admin_token": server.admin_token,
    }


def cli_args(server: ReferenceServer) -> list[str]:
    return [
        "--url", server.url, "--api-key", server.api_key, "--email", server.email,
        "--password", server.password, "--no-progress",
    ]  # fmt: skip


def front_end(widget: ChatWidget, content: dict[str, Any]) -> None:
    widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
    )


def front_end_state(widget: ChatWidget, **state: Any) -> None:
    widget._handle_msg(
        {
            "content": {"data": {"method": "update", "state": state, "buffer_paths": []}},
            "buffers": [],
        }
    )


@pytest.fixture
def chat(reference_server: ReferenceServer) -> Any:
    widget = ChatWidget(
        reference_server.url, persona="nutritionist", **credentials(reference_server)
    )
    widget.wait_ready()
    yield widget
    widget.close()


def test_widget_ratings_from_python_and_front_end_are_state_and_exported(
    chat: ChatWidget, tmp_path: Path
) -> None:
    chat.ask("I keep waking up tired.")
    chat.ask("What should I change first?")
    first, second = [m["id"] for m in chat.messages if m["role"] == "assistant"][-2:]
    chat.rate(-2, "up", "concrete")
    # The front end writes the trait; junk is dropped, text made valid, notes cut.
    front_end_state(
        chat,
        ratings={
            **chat.ratings,
            second: {"rating": "down", "note": "off persona \ud800" + "x" * 3000},
            "other": "junk",
            "blank": {"rating": "sideways", "note": "  "},
        },
    )
    assert set(chat.ratings) == {first, second}
    assert chat.ratings[first] == {"rating": "up", "note": "concrete"}
    assert chat.ratings[second]["rating"] == "down"
    assert chat.ratings[second]["note"].startswith("off persona \ufffd")
    assert len(chat.ratings[second]["note"]) == 2000
    # Part of the widget's state: what a saved notebook holds.
    assert chat.get_state()["ratings"] == chat.ratings
    data = json.loads(chat.export(tmp_path / "chat.json").read_text(encoding="utf-8"))
    rated = [m for m in data["messages"] if "rating" in m]
    assert [m["rating"] for m in rated] == ["up", "down"]
    md = chat.export(tmp_path / "chat.md").read_text(encoding="utf-8")
    assert "> Rated up: concrete" in md
    chat.rate(first, None, None)  # nothing left to say: the rating goes
    assert set(chat.ratings) == {second}
    with pytest.raises(ConfigurationError, match="'up', 'down'"):
        chat.rate(-1, "great")
    with pytest.raises(ConfigurationError, match="no reply 50"):
        chat.rate(50, "up")


def test_widget_to_scenario_round_trips_through_eval_and_compare(
    chat: ChatWidget, reference_server: ReferenceServer, tmp_path: Path
) -> None:
    client = chat.client
    assert client is not None
    goal = chat._runner.run_blocking(
        client.create_goal(
            title="Sleep 8 hours",
            goal_type="custom",
            target_value=8,
            target_unit="hours",
            current_value=6,
            target_date=date(2027, 3, 1),
        )
    )
    chat.refresh_goals()
    chat.goal_id = goal.id
    chat.wait_ready()
    chat.ask("I keep waking up tired. What should I change first?")
    chat.ask(TRICKY)
    chat.rate(-2, "up", "names one change\nfirst")
    chat.rate(-1, "down", "ignores the goal")
    path = chat.to_scenario(tmp_path / "sleep.yaml", expect={"min_chars": 1})
    text = path.read_text(encoding="utf-8")
    assert "# nutritionist: rated 👍 up: names one change first" in text
    assert "# nutritionist: rated 👎 down: ignores the goal" in text
    loaded = load_scenarios(path)
    (conversation,) = loaded.conversations()
    assert conversation.persona == "nutritionist"
    assert [t.say for t in conversation.scenario.turns or ()] == [
        "I keep waking up tired. What should I change first?",
        TRICKY,
    ]
    assert conversation.goal is not None
    spec = conversation.goal.model_dump()
    assert (spec["title"], spec["target_value"], spec["target_unit"]) == (
        "Sleep 8 hours",
        8,
        "hours",
    )
    assert (spec["current_value"], spec["target_date"]) == (6, date(2027, 3, 1))
    assert conversation.turn_expects[0].min_chars == 1
    # The file runs unchanged, and compares with a second run of itself.
    base, new = tmp_path / "base", tmp_path / "new"
    assert main(["eval", str(path), "--out", str(base), *cli_args(reference_server)]) == 0
    assert main(["eval", str(path), "--out", str(new), *cli_args(reference_server)]) == 0
    records = read_records(base / "transcripts.jsonl")
    assert [r.say for r in records] == [t.say for t in conversation.scenario.turns or ()]
    assert {r.goal for r in records} == {"sleep-8-hours"}
    assert main(["compare", str(base), str(new)]) == 0


def test_widget_to_scenario_says_what_to_do_without_turns_or_with_bad_checks(
    chat: ChatWidget, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match="nothing to save yet"):
        chat.to_scenario(tmp_path / "empty.yaml")
    chat.ask("Hello")
    with pytest.raises(ConfigurationError, match="max_ttft_s"):
        chat.to_scenario(tmp_path / "bad.yaml", expect={"max_ttft_s": "soon"})
    with pytest.raises(ConfigurationError, match="does not exist"):
        chat.to_scenario(tmp_path / "missing" / "s.yaml")
    assert not (tmp_path / "bad.yaml").exists()


def test_widget_save_scenario_from_the_panel_sends_the_file(chat: ChatWidget) -> None:
    chat.ask("Hello there")
    log = chat.record_comm()
    front_end(chat, {"type": "save_scenario"})
    import time

    deadline = time.monotonic() + 10
    while not log.of_kind("scenario") and time.monotonic() < deadline:
        time.sleep(0.01)
    (message,) = log.of_kind("scenario")
    content = message.data["content"]
    assert content["name"].startswith("chat-nutritionist-")
    assert content["name"].endswith(".yaml")
    loaded = load_scenarios_text(content["text"])
    assert [t.say for t in loaded.scenarios[0].turns or ()] == ["Hello there"]


def load_scenarios_text(text: str) -> Any:
    from lume_widget.evaluation.scenarios import parse_scenarios

    return parse_scenarios(text)
