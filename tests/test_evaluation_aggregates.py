"""What a run adds up against the reference server: repeats (pass@k, pass^k, flaky), streaming metrics, token usage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from lume_widget.evaluation import evaluate_async
from lume_widget.evaluation.report import render_summary
from lume_widget.server import ReferenceServer

CHECKS = """
def odd_repeats_fail(record):
    return None if record.repeat % 2 == 0 else f"repeat {record.repeat} is odd"
"""


def credentials(server: ReferenceServer) -> dict[str, Any]:
    return {
        "url": server.url,
        "api_key": server.api_key,
        "email": server.email,
        "password": server.password,
        "progress": False,
    }


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "agg_checks.py").write_text(CHECKS)
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


async def test_repeats_give_pass_at_k_pass_hat_k_and_mark_flaky_scenarios(
    reference_server: ReferenceServer, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        """
scenarios:
  - name: steady
    persona: [nutritionist, fitness_coach]
    repeat: 3
    turns: [{say: "Hello there"}, {say: "What about breakfast?"}]
  - name: wobbly
    repeat: 4
    turns: [{say: "Hi", expect: {python: "agg_checks:odd_repeats_fail"}}]
  - name: broken
    repeat: 2
    turns: [{say: "Hi", expect: {icontains: ["no such words here"]}}]
""",
    )
    out = tmp_path / "run"
    result = await evaluate_async(path, out=out, concurrency=4, **credentials(reference_server))
    summary = json.loads((out / "summary.json").read_text())
    steady, wobbly, broken = (summary["by_scenario"][n] for n in ("steady", "wobbly", "broken"))
    assert (steady["runs"], steady["runs_passed"], steady["pass_rate"]) == (6, 6, 1.0)
    assert steady["pass_at_k"] is True
    assert steady["pass_hat_k"] is True
    assert steady["flaky"] is False
    assert set(steady["by_persona"]) == {"nutritionist", "fitness_coach"}
    assert steady["by_persona"]["nutritionist"]["runs"] == 3
    assert (wobbly["runs"], wobbly["runs_passed"], wobbly["pass_rate"]) == (4, 2, 0.5)
    assert wobbly["turn_pass_rate"] == 0.5
    assert wobbly["pass_at_k"] is True
    assert wobbly["pass_hat_k"] is False
    assert wobbly["flaky"] is True
    assert (broken["runs_passed"], broken["pass_at_k"], broken["flaky"]) == (0, False, False)
    assert summary["flaky"] == ["wobbly"]
    spread = steady["run_ttft_s"]
    assert 0 < spread["min"] <= spread["max"]
    assert spread["range"] == round(spread["max"] - spread["min"], 6)
    assert steady["run_duration_s"]["stdev"] >= 0

    console = Console(width=140, record=True)
    console.print(render_summary(result.summary))
    text = console.export_text()
    assert "Repeats" in text
    assert "TTFT spread" in text
    assert "FLAKY" in text
    report = (out / "report.html").read_text(encoding="utf-8")
    assert 'class="badge flaky">FLAKY' in report


async def test_streaming_metrics_and_reply_tokens_are_recorded_and_checked(
    reference_server_factory: Any, tmp_path: Path
) -> None:
    server = reference_server_factory(chunk_delay_ms=15)
    path = write(
        tmp_path,
        """
scenarios:
  - name: stream
    turns:
      - say: "/long 60"
        expect: {max_chunk_gap_s: 5}
      - say: "/long 60"
        expect: {max_chunk_gap_s: 0.001}
""",
    )
    result = await evaluate_async(path, out=tmp_path / "run", **credentials(server))
    relaxed, strict = result.records
    assert relaxed.outcome == "passed"
    assert relaxed.chunks > 3
    assert relaxed.chunk_gap_p50_s is not None
    assert relaxed.chunk_gap_p95_s is not None
    assert relaxed.chunk_gap_max_s is not None
    assert 0.005 < relaxed.chunk_gap_p50_s <= relaxed.chunk_gap_p95_s <= relaxed.chunk_gap_max_s
    assert relaxed.chars_per_s is not None
    assert 0 < relaxed.chars_per_s < 60 / 0.005
    assert strict.outcome == "failed"
    assert strict.failures[0].startswith("max_chunk_gap_s: the stream paused")
    assert relaxed.reply_tokens is not None
    assert relaxed.reply_tokens > 0
    summary = result.summary
    assert summary["usage"]["reply_tokens"] == relaxed.reply_tokens + (strict.reply_tokens or 0)
    assert summary["usage"]["replies_reporting_tokens"] == 2
    assert summary["usage"]["judge_tokens"] == 0
    assert summary["chunk_gap_max_s"]["count"] == 2
    assert summary["chars_per_s"]["p50"] > 0
