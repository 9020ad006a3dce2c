"""``lume-widget compare`` and ``EvaluationResult.compare``: a fault between two runs is found, a run equals itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lume_widget.cli import main
from lume_widget.evaluation import evaluate_async
from lume_widget.evaluation.compare import compare_records
from lume_widget.evaluation.records import TurnRecord
from lume_widget.server import ReferenceServer

SCRIPT = """
scenarios:
  - name: breakfast
    persona: [nutritionist, fitness_coach]
    turns: [{say: "/long 30", expect: {max_ttft_s: 10}}, {say: "And lunch?"}]
    conversation_expect: {max_reconnects: 0}
"""


def credentials(server: ReferenceServer) -> dict[str, Any]:
    return {
        "url": server.url,
        "api_key": server.api_key,
        "email": server.email,
        "password": server.password,
        "progress": False,
    }


async def test_compare_finds_the_regression_a_server_fault_introduced_and_exits_1(
    reference_server: ReferenceServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCRIPT)
    base, new = tmp_path / "base", tmp_path / "new"
    first = await evaluate_async(path, out=base, **credentials(reference_server))
    assert first.passed
    reference_server.set_faults(ws_close_after_chunks=2, ws_close_mode="abrupt")
    second = await evaluate_async(path, out=new, **credentials(reference_server))
    assert not second.passed

    diff = second.compare(base)
    assert diff.exit_code == 1
    assert [(c.persona, c.turn, c.before, c.after) for c in diff.regressions] == [
        ("nutritionist", 1, "passed", "failed"),
        ("fitness_coach", 1, "passed", "failed"),
    ]
    assert "max_reconnects" in diff.regressions[0].why
    assert diff.pass_rate["breakfast"] == {"before": 1.0, "after": 0.0, "change": -1.0}
    assert diff.timing["ttft_s"]["p50"]["before"] is not None
    assert "REGRESSED" in diff._repr_html_()

    html, report = tmp_path / "diff.html", tmp_path / "diff.json"
    code = main(["compare", str(base), str(new), "--html", str(html), "--json", str(report)])
    assert code == 1
    out = capsys.readouterr().out
    assert "REGRESSED: 2 turns" in out
    assert "breakfast [nutritionist, repeat 0, turn 1]: passed → failed" in out
    data = json.loads(report.read_text())
    assert data["regressed"] is True
    assert len(data["regressions"]) == 2
    assert data["turns_compared"] == 4
    assert set(data["timing"]) == {"ttft_s", "duration_s"}
    assert "REGRESSED: 2 turns" in html.read_text()
    # the other way round, the same turns are fixes and nothing regressed
    assert main(["compare", str(new), str(base)]) == 0
    assert "2 fixed" in capsys.readouterr().out


async def test_compare_a_run_with_itself_exits_0(
    reference_server: ReferenceServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCRIPT)
    result = await evaluate_async(path, out=tmp_path / "run", **credentials(reference_server))
    assert main(["compare", str(tmp_path / "run"), str(tmp_path / "run")]) == 0
    assert "no regression" in capsys.readouterr().out
    same = result.compare(result)
    assert (same.regressions, same.fixes, same.tier_changes) == ([], [], [])
    assert same.timing["ttft_s"]["p95"]["delta"] == 0


def test_compare_bad_input_exits_2_saying_what_to_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty"), str(tmp_path / "missing")]) == 2
    assert "is not an evaluation run" in capsys.readouterr().err


def record(scenario: str, turn: int, outcome: str, **fields: Any) -> TurnRecord:
    values: dict[str, Any] = {
        "scenario": scenario,
        "repeat": 0,
        "persona": "nutritionist",
        "turn": turn,
        "say": f"turn {turn}",
        "tier": "live",
        "ttft_s": 0.1,
        "duration_s": 0.5,
        "passed": outcome == "passed",
        "failures": [] if outcome != "failed" else ["contains: nope"],
        "error": "the server failed" if outcome == "error" else None,
        "last": True,
    }
    values.update(fields)
    return TurnRecord(**values)


def test_compare_lists_new_removed_fixed_unreached_and_tier_changes() -> None:
    base = [
        record("kept", 0, "passed", last=False),
        record("kept", 1, "passed"),
        record("fixed", 0, "error"),
        record("gone", 0, "passed"),
    ]
    new = [
        record("kept", 0, "failed", tier="rest", ttft_s=0.3),
        record("fixed", 0, "passed"),
        record("added", 0, "failed"),
    ]
    diff = compare_records(base, new)
    assert [(c.scenario, c.turn, c.after) for c in diff.regressions] == [
        ("kept", 0, "failed"),
        ("kept", 1, "skipped"),
    ]
    assert diff.regressions[0].why == "contains: nope"
    assert diff.regressions[1].why == "the turn was never reached"
    assert [(c.scenario, c.before) for c in diff.fixes] == [("fixed", "error")]
    assert [(c.before, c.after) for c in diff.tier_changes] == [("live", "rest")]
    assert diff.new_scenarios == ["added"]
    assert diff.removed_scenarios == ["gone"]
    assert [k[0] for k in diff.new_conversations] == ["added"]
    assert [k[0] for k in diff.removed_conversations] == ["gone"]
    assert diff.pass_rate["kept"]["change"] == -1.0
    assert diff.by_scenario_timing["kept"]["ttft_s"]["p50"]["delta"] == pytest.approx(0.2)
