"""Simulated users played by a local fake model against the reference server: each way a conversation ends, resume, repeat."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_model import Answer, FakeModel, judge_answer

from lume_widget.evaluation import evaluate_async
from lume_widget.server import ReferenceServer

KEY = "sk-simulator-secret-42"


def script(extra: str = "", *, max_turns: int = 4, stop_when: str | None = None) -> str:
    stop = f'\n      stop_when: "{stop_when}"' if stop_when else ""
    return f"""
goals:
  steps: {{title: "Walk 10000 steps a day", goal_type: activity, target_value: 10000, target_unit: steps}}
scenarios:
  - name: busy-parent
    persona: fitness_coach
    goal: steps
    simulated_user:
      persona: "A busy parent of two who wants to walk more and distrusts gyms."
      opening: "Hi, I never have time to exercise."
      max_turns: {max_turns}{stop}
    expect: {{min_chars: 1}}
{extra}"""


def credentials(server: ReferenceServer) -> dict[str, Any]:
    return {
        "url": server.url,
        "api_key": server.api_key,
        "email": server.email,
        "password": server.password,
        "progress": False,
    }


def is_simulator(body: dict[str, Any]) -> bool:
    return "role-playing a USER" in body["messages"][0]["content"]


def route(
    model: FakeModel,
    simulator: Callable[[int], Answer],
    judge: Callable[[int], Answer] = lambda n: judge_answer(0.0, "not yet"),
) -> None:
    """Answer simulator and judge requests by their own counters (1 for the first of each)."""
    counts = {"sim": 0, "judge": 0}

    def respond(body: dict[str, Any]) -> Answer:
        kind = "sim" if is_simulator(body) else "judge"
        counts[kind] += 1
        return (simulator if kind == "sim" else judge)(counts[kind])

    model.respond = respond


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch, model_server: FakeModel) -> FakeModel:
    monkeypatch.setenv("LUME_JUDGE_URL", model_server.url)
    monkeypatch.setenv("LUME_JUDGE_MODEL", "sim-1")
    monkeypatch.setenv("LUME_SIMULATOR_API_KEY", KEY)
    monkeypatch.delenv("LUME_JUDGE_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return model_server


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_simulated_user_ends_the_conversation_itself(
    reference_server: ReferenceServer, model: FakeModel, tmp_path: Path
) -> None:
    lines = ["Could I walk at lunch?", "How many steps is that?", "END_CONVERSATION"]
    route(model, lambda n: Answer(text=lines[n - 1]))
    out = tmp_path / "run"
    seen: list[tuple[int, int]] = []
    options = {
        **credentials(reference_server),
        "progress": lambda p: seen.append((p.turns_done, p.turns_total)),
    }
    result = await evaluate_async(write(tmp_path, script()), out=out, **options)
    assert seen[0][1] == 4  # planned at max_turns
    assert seen[-1] == (3, 3)  # and the bar ends full
    records = result.records
    assert [r.say for r in records] == ["Hi, I never have time to exercise.", *lines[:2]]
    assert [r.simulated for r in records] == [False, True, True]
    assert [r.last for r in records] == [False, False, True]
    assert records[-1].ended_by == "simulator"
    assert all(r.turns_total == 3 for r in result.records[-1:])
    assert result.passed
    assert result.summary["turns"]["planned"] == result.summary["turns"]["run"] == 3
    requests = [r for r in model.requests if is_simulator(r["body"])]
    assert len(requests) == 3
    assert {r["auth"] for r in requests} == {f"Bearer {KEY}"}
    first = requests[0]["body"]["messages"]
    assert "busy parent of two" in first[0]["content"]
    assert "Walk 10000 steps a day" in first[0]["content"]
    assert "END_CONVERSATION" in first[0]["content"]
    # its own messages are the assistant's, the coach's replies the user's
    assert [m["role"] for m in first[1:]] == ["assistant", "user"]
    assert first[-1]["content"] == records[0].reply
    assert records[1].simulator_tokens == 60
    saved = [json.loads(line) for line in (out / "transcripts.jsonl").read_text().splitlines()]
    assert [line["simulated"] for line in saved] == [False, True, True]
    assert result.summary["by_scenario"]["busy-parent"]["ended_by"] == {"simulator": 1}
    assert result.summary["usage"]["simulator_tokens"] == 180
    report = (out / "report.html").read_text(encoding="utf-8")
    assert report.count('class="row user simulated"') == 2
    assert "ended by simulator" in report
    for path in out.iterdir():
        assert KEY not in path.read_text(encoding="utf-8")


async def test_simulated_conversation_ends_when_stop_when_is_met(
    reference_server: ReferenceServer, model: FakeModel, tmp_path: Path
) -> None:
    route(
        model,
        lambda n: Answer(text=f"question {n}"),
        judge=lambda n: judge_answer(1.0 if n == 2 else 0.0, "a weekly plan" if n == 2 else "no"),
    )
    path = write(tmp_path, script(stop_when="The user has a concrete weekly walking plan."))
    result = await evaluate_async(path, out=tmp_path / "run", **credentials(reference_server))
    assert len(result.records) == 2
    last = result.records[-1]
    assert last.ended_by == "stop_when"
    assert last.judgements[-1]["check"] == "stop_when"
    assert last.judgements[-1]["reason"] == "a weekly plan"
    judge_prompts = [
        p for p, b in zip(model.prompts(), model.bodies, strict=True) if not is_simulator(b)
    ]
    assert "concrete weekly walking plan" in judge_prompts[-1]
    assert last.reply in judge_prompts[-1]
    assert result.passed


async def test_simulated_conversation_stops_at_max_turns(
    reference_server: ReferenceServer, model: FakeModel, tmp_path: Path
) -> None:
    route(model, lambda n: Answer(text=f"tell me more, part {n}"))
    path = write(tmp_path, script(max_turns=3))
    result = await evaluate_async(path, out=tmp_path / "run", **credentials(reference_server))
    assert [r.turn for r in result.records] == [0, 1, 2]
    assert result.records[-1].ended_by == "max_turns"
    # no question is asked of the simulator that would never be sent
    assert len([b for b in model.bodies if is_simulator(b)]) == 2


async def test_simulated_conversation_ends_in_error_when_the_simulator_fails(
    reference_server: ReferenceServer, model: FakeModel, tmp_path: Path
) -> None:
    route(model, lambda n: Answer(text="one more?") if n == 1 else Answer(status=400))
    path = write(tmp_path, script(max_turns=5))
    result = await evaluate_async(path, out=tmp_path / "run", **credentials(reference_server))
    assert len(result.records) == 2
    last = result.records[-1]
    assert last.ended_by == "error"
    assert last.outcome == "error"
    assert last.error is not None
    assert "HTTP 400" in last.error
    assert last.reply  # the turn's reply is kept
    assert result.summary["turns"]["skipped"] == 0
    assert result.exit_code == 1


async def test_simulated_conversations_repeat_and_resume(
    reference_server: ReferenceServer, model: FakeModel, tmp_path: Path
) -> None:
    def respond(body: dict[str, Any]) -> Answer:
        said = [m for m in body["messages"] if m["role"] == "assistant"]
        return Answer(text="END_CONVERSATION" if len(said) >= 2 else "and what else?")

    model.respond = respond
    path = write(tmp_path, script().replace("max_turns: 4", "max_turns: 4\n    repeat: 3"))
    out = tmp_path / "run"
    first = await evaluate_async(path, out=out, **credentials(reference_server))
    assert sorted({r.repeat for r in first.records}) == [0, 1, 2]
    assert first.summary["by_scenario"]["busy-parent"]["runs"] == 3
    transcripts = out / "transcripts.jsonl"
    lines = transcripts.read_text().splitlines()
    kept = [line for line in lines if json.loads(line)["repeat"] != 2]
    transcripts.write_text("\n".join(kept) + "\n" + lines[-1][:25])  # a torn last line
    resumed = await evaluate_async(path, out=out, resume=True, **credentials(reference_server))
    assert resumed.summary["run"]["resumed_conversations"] == 2
    assert sorted({r.repeat for r in resumed.records}) == [0, 1, 2]
    assert len(resumed.records) == len(first.records)
    assert all(r.ended_by == "simulator" for r in resumed.records if r.last)
    assert [r.turns_total for r in resumed.records if r.last] == [2, 2, 2]


async def test_simulated_replies_are_judged_and_every_record_is_written_in_order(
    reference_server: ReferenceServer, model: FakeModel, tmp_path: Path
) -> None:
    lines = ["Could I walk at lunch?", "How many steps is that?", "END_CONVERSATION"]
    # The judge answers slowly, so the simulator ends the chat while verdicts are pending.
    route(
        model,
        lambda n: Answer(text=lines[n - 1]),
        judge=lambda n: Answer(text='{"score": 0.8, "reason": "in role"}', delay_s=0.2),
    )
    text = script().replace("expect: {min_chars: 1}", 'expect: {rubric: "Stays in role."}')
    text += '    conversation_expect: {rubric: "Gets to a plan."}\n'
    out = tmp_path / "run"
    result = await evaluate_async(write(tmp_path, text), out=out, **credentials(reference_server))
    saved = [json.loads(line) for line in (out / "transcripts.jsonl").read_text().splitlines()]
    assert [line["turn"] for line in saved] == [0, 1, 2]
    assert [[j["check"] for j in line["judgements"]] for line in saved] == [
        ["rubric"],
        ["rubric"],
        ["rubric", "conversation rubric"],
    ]
    assert all(line["outcome"] == "passed" for line in saved)
    assert saved[-1]["ended_by"] == "simulator"
    assert result.passed
