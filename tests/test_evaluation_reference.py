"""Evaluations against the reference server over loopback: goals and all personas, width, rate limits, cleanup."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lume_widget.client import LumeClient, Settings
from lume_widget.defaults import PERSONAS
from lume_widget.evaluation import evaluate_async
from lume_widget.evaluation.replayer import plan_replay
from lume_widget.server import ReferenceServer

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "scenarios.yaml"

REQUIRED_FIELDS = {
    "scenario",
    "repeat",
    "persona",
    "goal",
    "consultation_id",
    "turn",
    "say",
    "reply",
    "passed",
    "failures",
    "ttft_s",
    "duration_s",
    "chunks",
    "tier",
    "reconnects",
    "error",
}


def credentials(server: ReferenceServer) -> dict[str, Any]:
    return {
        "url": server.url,
        "api_key": server.api_key,
        "email": server.email,
        "password": server.password,
        "progress": False,
    }


async def active_consultations(api: Any) -> int:
    data = await api.data("GET", "/api/v1/consultations", params={"status": "active"})
    return len(data["consultations"])


async def test_evaluation_example_passes_with_goals_and_every_persona(
    reference_server: ReferenceServer, api: Any, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    result = await evaluate_async(EXAMPLE, out=out, concurrency=4, **credentials(reference_server))

    assert result.passed, [r.failures or r.error for r in result.records if r.outcome != "passed"]
    assert result.exit_code == 0
    lines = (out / "transcripts.jsonl").read_text().splitlines()
    assert len(lines) == 13
    for line in lines:
        record = json.loads(line)
        assert set(record) >= REQUIRED_FIELDS
        assert record["consultation_id"]
        assert record["tier"] == "live"
        assert record["ttft_s"] > 0
        assert record["duration_s"] >= record["ttft_s"]
        assert record["chunks"] > 1
    goal_turns = [r for r in result.records if r.scenario == "goal-aware-opening"]
    assert {r.goal for r in goal_turns} == {"summer"}
    assert len({r.goal_id for r in goal_turns}) == 1  # created once, shared by the repeats
    assert len({r.consultation_id for r in goal_turns}) == 3  # one consultation per repeat
    assert "Lose 15 pounds for summer vacation" in goal_turns[0].reply

    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["by_persona"]) == set(PERSONAS)
    assert summary["turns"] == {
        "planned": 13,
        "run": 13,
        "passed": 13,
        "failed": 0,
        "error": 0,
        "skipped": 0,
    }
    assert summary["pass_rate"] == 1.0
    assert 0 < summary["ttft_s"]["p50"] <= summary["ttft_s"]["p95"]
    assert 0 < summary["duration_s"]["p50"] <= summary["duration_s"]["p95"]
    assert summary["run"]["consultations_created"] == 7
    assert summary["run"]["consultations_left_open"] == []
    assert await active_consultations(api) == 0


async def test_evaluation_reuses_goals_already_on_the_server(
    reference_server: ReferenceServer, api: Any, tmp_path: Path
) -> None:
    text = EXAMPLE.read_text()
    first = await evaluate_async(
        EXAMPLE, out=tmp_path / "a", personas=["fitness_coach"], **credentials(reference_server)
    )
    second = await evaluate_async(
        EXAMPLE, out=tmp_path / "b", personas=["fitness_coach"], **credentials(reference_server)
    )
    assert "steps:" in text
    assert first.records[0].goal_id == second.records[0].goal_id
    goals = await api.data("GET", "/api/v1/goals")
    titles = [goal["title"] for goal in (goals["goals"] if isinstance(goals, dict) else goals)]
    assert titles.count("Walk 10000 steps a day") == 1


def _overlap(records: list[Any]) -> int:
    """The most conversations that were in flight at the same moment."""
    spans: dict[tuple[str, str, int], list[datetime]] = {}
    for record in records:
        start = datetime.fromisoformat(record.started_at)
        end = start + timedelta(seconds=record.wall_s or 0)
        span = spans.setdefault(record.key, [start, end])
        span[0], span[1] = min(span[0], start), max(span[1], end)
    edges = sorted([(s, 1) for s, _ in spans.values()] + [(e, -1) for _, e in spans.values()])
    peak = current = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


async def test_evaluation_runs_conversations_in_parallel_within_the_limit(
    reference_server_factory: Any, tmp_path: Path
) -> None:
    server = reference_server_factory(chunk_delay_ms=2)
    path = tmp_path / "wide.yaml"
    path.write_text(
        "scenarios:\n"
        "  - name: wide\n"
        "    persona: all\n"
        "    repeat: 3\n"
        "    turns: [{say: '/long 25', expect: {min_chars: 10}}, {say: 'and breakfast?'}]\n"
    )
    result = await evaluate_async(path, out=tmp_path / "run", concurrency=3, **credentials(server))
    assert result.passed
    assert len(result.records) == 4 * 3 * 2
    assert 2 <= _overlap(result.records) <= 3
    for key in {r.key for r in result.records}:
        turns = [r for r in result.records if r.key == key]
        assert [r.turn for r in turns] == [0, 1]
        assert len({r.consultation_id for r in turns}) == 1


async def test_evaluation_survives_injected_rate_limits(
    reference_server: ReferenceServer, api: Any, tmp_path: Path
) -> None:
    reference_server.set_faults(rate_limit_rate=0.3, rate_limit_retry_after_s=0)
    path = tmp_path / "busy.yaml"
    path.write_text(
        "scenarios:\n"
        "  - name: busy\n"
        "    persona: all\n"
        "    repeat: 2\n"
        "    turns: [{say: 'What should I eat for breakfast?'}, {say: 'And water?'}]\n"
    )
    result = await evaluate_async(
        path, out=tmp_path / "run", concurrency=6, **credentials(reference_server)
    )
    reference_server.clear_faults()
    assert result.summary["turns"]["run"] == 16
    assert result.passed, [r.error for r in result.errors]
    run = result.summary["run"]
    assert run["rate_limits"] > 0
    assert run["lowest_concurrency"] < 6
    assert await active_consultations(api) == 0


async def test_evaluation_server_errors_are_errors_not_failures(
    reference_server: ReferenceServer, tmp_path: Path
) -> None:
    path = tmp_path / "down.yaml"
    path.write_text(
        "scenarios:\n  - name: down\n    repeat: 2\n    turns: [{say: hello}, {say: again}]\n"
    )
    client = await LumeClient.connect(
        reference_server.url,
        api_key=reference_server.api_key,
        email=reference_server.email,
        password=reference_server.password,
        settings=Settings().scaled(0.01),
    )
    reference_server.set_faults(http_error_rate=1.0, http_error_status=500)
    try:
        result = await evaluate_async(path, out=tmp_path / "run", client=client, progress=False)
    finally:
        reference_server.clear_faults()
        await client.aclose()
    assert [(r.turn, r.outcome, r.error_type) for r in result.records] == [
        (0, "error", "ServerError"),
        (0, "error", "ServerError"),
    ]
    assert all(r.passed is None and r.last and r.consultation_id is None for r in result.records)
    turns = result.summary["turns"]
    assert (turns["failed"], turns["error"], turns["skipped"]) == (0, 2, 2)
    assert result.summary["pass_rate"] is None
    assert result.exit_code == 1


async def test_evaluation_initial_message_quick_action_and_pinned_tier(
    reference_server: ReferenceServer, tmp_path: Path
) -> None:
    path = tmp_path / "openers.yaml"
    path.write_text(
        "scenarios:\n"
        "  - name: opener\n"
        "    persona: nutritionist\n"
        "    initial_message: 'Hi, I need help with my meals'\n"
        "    quick_action: plan-nutrition\n"
        "    tier: rest\n"
        "    conversation_expect: {tier: rest, max_tier_changes: 0}\n"
        "    turns:\n"
        "      - say: 'What should I eat for breakfast?'\n"
        "        expect: {tier: rest, icontains_any: [protein, oats, fibre]}\n"
    )
    result = await evaluate_async(path, out=tmp_path / "run", **credentials(reference_server))
    assert result.passed, [r.failures or r.error for r in result.records]
    # the answer to the initial message is a turn of its own, recorded first
    opening, record = result.records
    assert (opening.turn, opening.initial, opening.say) == (
        0,
        True,
        "Hi, I need help with my meals",
    )
    assert opening.reply
    assert opening.tier == "rest"
    assert opening.ttft_s is not None
    assert not opening.last
    assert (record.turn, record.initial, record.turns_total) == (1, False, 2)
    assert record.say == "What should I eat for breakfast?"
    assert record.reply != opening.reply
    assert record.tier == "rest"
    assert record.ttft_s is not None
    stored = [
        json.loads(line)
        for line in (tmp_path / "run" / "transcripts.jsonl").read_text().splitlines()
    ]
    assert [(r["turn"], r["initial"], r["outcome"]) for r in stored] == [
        (0, True, "passed"),
        (1, False, "passed"),
    ]
    assert result.summary["turns"]["planned"] == result.summary["turns"]["run"] == 2
    again = await evaluate_async(
        path, out=tmp_path / "run", resume=True, **credentials(reference_server)
    )
    assert again.summary["run"]["turns_this_run"] == 0  # exactly once
    assert len((tmp_path / "run" / "transcripts.jsonl").read_text().splitlines()) == 2
    [replayed] = plan_replay(tmp_path / "run").scenarios.scenarios
    assert replayed.initial_message == "Hi, I need help with my meals"
    assert [t.say for t in replayed.turns or ()] == ["What should I eat for breakfast?"]
