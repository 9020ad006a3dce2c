"""Summaries of an evaluation run: ``summary.json`` (counts, pass rate, TTFT and duration percentiles, by persona) and a rich table.

The pass rate counts judged turns only (passed / (passed + failed)); turns that ended in
an error are their own outcome and have their own rate, and turns a conversation never
reached because of an earlier error are counted as skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from lume_widget.evaluation.records import SUMMARY_FILE, TurnRecord, valid_text
from lume_widget.evaluation.stats import percentile, spread, timing

__all__ = [
    "percentile",
    "records_by_conversation",
    "render_summary",
    "repeats",
    "summarize",
    "usage",
    "write_summary",
]


_timing = timing


def _group(records: Sequence[TurnRecord], planned: int | None = None) -> dict[str, Any]:
    passed = sum(1 for record in records if record.outcome == "passed")
    failed = sum(1 for record in records if record.outcome == "failed")
    errors = sum(1 for record in records if record.outcome == "error")
    skipped = sum(
        max(0, record.turns_total - record.turn - 1) for record in records if record.error
    )
    judged = passed + failed
    ran = judged + errors
    conversations: dict[tuple[str, str, int], str] = {}
    for record in records:
        previous = conversations.get(record.key, "passed")
        if record.outcome == "error" or previous == "error":
            conversations[record.key] = "error"
        elif record.outcome == "failed" or previous == "failed":
            conversations[record.key] = "failed"
        else:
            conversations[record.key] = "passed"
    outcomes = list(conversations.values())
    return {
        "turns": {
            "planned": planned if planned is not None else ran + skipped,
            "run": ran,
            "passed": passed,
            "failed": failed,
            "error": errors,
            "skipped": skipped,
        },
        "conversations": {
            "total": len(outcomes),
            "passed": outcomes.count("passed"),
            "failed": outcomes.count("failed"),
            "error": outcomes.count("error"),
        },
        "pass_rate": round(passed / judged, 4) if judged else None,
        "error_rate": round(errors / ran, 4) if ran else None,
        "ttft_s": _timing([r.ttft_s for r in records if r.ttft_s is not None and not r.error]),
        "duration_s": _timing(
            [r.duration_s for r in records if r.duration_s is not None and not r.error]
        ),
        "chunk_gap_max_s": _timing(
            [r.chunk_gap_max_s for r in records if r.chunk_gap_max_s is not None]
        ),
        "chars_per_s": _timing([r.chars_per_s for r in records if r.chars_per_s is not None]),
        "usage": usage(records),
    }


def usage(records: Sequence[TurnRecord]) -> dict[str, Any]:
    """Tokens by who spent them: the persona's replies (when reported), the judge, the simulator."""
    judgements = [j for r in records for j in r.judgements]
    reported = [r.reply_tokens for r in records if r.reply_tokens is not None]
    return {
        "reply_tokens": sum(reported),
        "replies_reporting_tokens": len(reported),
        "judge_tokens": sum(r.judge_tokens for r in records),
        "judge_calls": sum(1 for j in judgements if not j.get("cached")),
        "judge_cached": sum(1 for j in judgements if j.get("cached")),
        "simulator_tokens": sum(r.simulator_tokens for r in records),
        "simulated_messages": sum(1 for r in records if r.simulated),
    }


def repeats(records: Sequence[TurnRecord]) -> dict[str, Any]:
    """How a scenario fared across its runs (persona x repeat).

    A run passed when every turn and the conversation checks passed. ``pass_at_k``: at
    least one of the k runs passed; ``pass_hat_k``: all k did; ``flaky``: some did and
    some did not. The spreads are of each run's median TTFT and total duration.
    """
    runs = records_by_conversation(records)
    passed = [key for key, run in runs.items() if all(r.outcome == "passed" for r in run)]
    count = len(runs)
    ttft: list[float] = []
    duration: list[float] = []
    for run in runs.values():
        firsts = [r.ttft_s for r in run if r.ttft_s is not None and not r.error]
        median = percentile(firsts, 0.5)
        if median is not None:
            ttft.append(median)
        duration.append(sum(r.duration_s or 0.0 for r in run))
    ended: dict[str, int] = {}
    for run in runs.values():
        why = run[-1].ended_by
        if why is not None:
            ended[why] = ended.get(why, 0) + 1
    return {
        "runs": count,
        "runs_passed": len(passed),
        "pass_rate": round(len(passed) / count, 4) if count else None,
        "pass_at_k": bool(passed),
        "pass_hat_k": count > 0 and len(passed) == count,
        "flaky": 0 < len(passed) < count,
        "run_ttft_s": spread(ttft),
        "run_duration_s": spread(duration),
        "ended_by": ended,
    }


def summarize(
    records: Sequence[TurnRecord],
    *,
    planned_turns: int | None = None,
    run: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The summary of a run: overall counts and timings, the same by persona and by scenario.

    ``run`` holds facts about the run itself (wall time, concurrency, consultations)
    and is stored under ``"run"``; the turn throughput is derived from its ``wall_s``.
    """
    summary = _group(records, planned_turns)
    summary["by_persona"] = {
        persona: _group([r for r in records if r.persona == persona])
        for persona in sorted({r.persona for r in records})
    }
    summary["by_scenario"] = {}
    for name in dict.fromkeys(r.scenario for r in records):
        mine = [r for r in records if r.scenario == name]
        group = _group(mine)
        group["turn_pass_rate"] = group["pass_rate"]  # of turns; "pass_rate" below is of runs
        group.update(repeats(mine))
        group["by_persona"] = {
            persona: repeats([r for r in mine if r.persona == persona])
            for persona in dict.fromkeys(r.persona for r in mine)
        }
        summary["by_scenario"][name] = group
    summary["flaky"] = [name for name, group in summary["by_scenario"].items() if group["flaky"]]
    summary["failures"] = [
        {
            "scenario": r.scenario,
            "persona": r.persona,
            "repeat": r.repeat,
            "turn": r.turn,
            "failures": r.failures,
        }
        for r in records
        if r.outcome == "failed"
    ]
    summary["errors"] = [
        {
            "scenario": r.scenario,
            "persona": r.persona,
            "repeat": r.repeat,
            "turn": r.turn,
            "error": r.error or "; ".join(r.check_errors),
            "error_type": r.error_type or ("JudgeError" if r.check_errors else None),
        }
        for r in records
        if r.outcome == "error"
    ]
    if run is not None:
        run = dict(run)
        wall = run.get("wall_s")
        new_turns = run.get("turns_this_run", summary["turns"]["run"])
        if wall:
            run["turns_per_s"] = round(new_turns / wall, 3)
        summary["run"] = run
    summary["all_passed"] = (
        summary["turns"]["failed"] == 0
        and summary["turns"]["error"] == 0
        and summary["turns"]["run"] == summary["turns"]["planned"]
    )
    return summary


def write_summary(out_dir: Path, summary: dict[str, Any]) -> Path:
    path = out_dir / SUMMARY_FILE
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(
        valid_text(json.dumps(summary, indent=2, ensure_ascii=False)) + "\n", encoding="utf-8"
    )
    temporary.replace(path)
    return path


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def render_summary(summary: dict[str, Any], *, max_problems: int = 20) -> Group:
    """A rich renderable: one row per persona and a total, then the failures and errors."""
    table = Table(title="Persona evaluation", title_justify="left", show_lines=False)
    for column, justify in (
        ("persona", "left"),
        ("turns", "right"),
        ("passed", "right"),
        ("failed", "right"),
        ("errors", "right"),
        ("skipped", "right"),
        ("pass rate", "right"),
        ("TTFT p50", "right"),
        ("TTFT p95", "right"),
        ("duration p50", "right"),
        ("duration p95", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]

    def row(name: str, group: dict[str, Any], style: str | None = None) -> None:
        turns = group["turns"]
        table.add_row(
            name,
            str(turns["run"]),
            str(turns["passed"]),
            Text(str(turns["failed"]), style="bold red" if turns["failed"] else ""),
            Text(str(turns["error"]), style="bold yellow" if turns["error"] else ""),
            str(turns["skipped"]),
            _rate(group["pass_rate"]),
            _seconds(group["ttft_s"]["p50"]),
            _seconds(group["ttft_s"]["p95"]),
            _seconds(group["duration_s"]["p50"]),
            _seconds(group["duration_s"]["p95"]),
            style=style,
        )

    for persona, group in summary["by_persona"].items():
        row(persona, group)
    table.add_section()
    row("all", summary, style="bold")

    parts: list[Any] = [table]
    scenarios = _scenario_table(summary)
    if scenarios is not None:
        parts.append(scenarios)
    problems = _problem_lines(summary)
    for line in problems[:max_problems]:
        parts.append(line)
    if len(problems) > max_problems:
        parts.append(Text(f"... and {len(problems) - max_problems} more in transcripts.jsonl"))
    run = summary.get("run") or {}
    if run.get("turns_per_s") is not None:
        parts.append(
            Text(
                f"{summary['turns']['run']} turns in {run['wall_s']:.2f} s"
                f" ({run['turns_per_s']:.2f} turns/s), concurrency {run.get('concurrency')}"
                + (
                    f", {run['rate_limits']} rate limits (concurrency down to"
                    f" {run['lowest_concurrency']}, back up to {run.get('final_concurrency')})"
                    if run.get("rate_limits")
                    else ""
                ),
                style="dim",
            )
        )
    spent = summary.get("usage") or {}
    if spent.get("judge_calls") or spent.get("judge_cached") or spent.get("simulator_tokens"):
        parts.append(
            Text(
                f"tokens: replies {spent['reply_tokens']}, judge {spent['judge_tokens']}"
                f" ({spent['judge_calls']} calls, {spent['judge_cached']} from the cache),"
                f" simulator {spent['simulator_tokens']}",
                style="dim",
            )
        )
    for note in run.get("notes", []):
        parts.append(Text(f"note: {note}", style="yellow"))
    return Group(*parts)


def _scenario_table(summary: dict[str, Any]) -> Table | None:
    """Runs per scenario, when any scenario ran more than once; flaky ones marked."""
    groups = summary.get("by_scenario") or {}
    if not any(group.get("runs", 0) > 1 for group in groups.values()):
        return None
    table = Table(title="Repeats", title_justify="left")
    columns = ("scenario", "runs", "passed", "pass rate", "pass@k", "pass^k")
    for column in (*columns, "TTFT spread", "duration spread", ""):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for name, group in groups.items():
        flaky = bool(group.get("flaky"))
        table.add_row(
            name,
            str(group["runs"]),
            str(group["runs_passed"]),
            _rate(group.get("pass_rate")),
            "yes" if group["pass_at_k"] else "no",
            "yes" if group["pass_hat_k"] else "no",
            _seconds(group["run_ttft_s"]["range"]),
            _seconds(group["run_duration_s"]["range"]),
            Text("FLAKY", style="bold magenta") if flaky else "",
        )
    return table


def _problem_lines(summary: dict[str, Any]) -> list[Text]:
    lines: list[Text] = []
    for item in summary["failures"]:
        place = (
            f"{item['scenario']} [{item['persona']}, repeat {item['repeat']}, turn {item['turn']}]"
        )
        for failure in item["failures"]:
            lines.append(Text.assemble(("FAIL ", "bold red"), place + ": ", failure))
    for item in summary["errors"]:
        place = (
            f"{item['scenario']} [{item['persona']}, repeat {item['repeat']}, turn {item['turn']}]"
        )
        lines.append(Text.assemble(("ERROR ", "bold yellow"), place + ": ", str(item["error"])))
    return lines


def print_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    (console or Console()).print(render_summary(summary))


def records_by_conversation(
    records: Iterable[TurnRecord],
) -> dict[tuple[str, str, int], list[TurnRecord]]:
    grouped: dict[tuple[str, str, int], list[TurnRecord]] = {}
    for record in records:
        grouped.setdefault(record.key, []).append(record)
    return grouped
