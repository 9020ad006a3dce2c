"""Compare two evaluation runs: what regressed, what was fixed, what is new or gone, and how timings moved.

Conversations are paired by (scenario, persona, goal, repeat) and their turns by
position; a replayed conversation (:mod:`.replayer`) pairs with the one it sent again. A regression is a turn that passed in the base run and failed, ended in an
error or was never reached in the new one; a fix is the reverse. Per scenario the pass
rate of runs is compared, and overall and per scenario the TTFT and duration p50/p95.
A turn that came over another tier is listed. :attr:`Comparison.exit_code` is 1 when
anything regressed, so ``lume-widget compare`` can gate a release in CI.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from lume_widget.errors import ConfigurationError
from lume_widget.evaluation.html_report import ROOT_CLASS, STYLE, page
from lume_widget.evaluation.records import TRANSCRIPTS_FILE, TurnRecord, read_records, valid_text
from lume_widget.evaluation.report import repeats
from lume_widget.evaluation.stats import percentile

__all__ = ["Comparison", "TurnChange", "compare_records", "compare_runs", "load_run"]

RunKey = tuple[str, str, str | None, int]


def load_run(path: str | Path) -> list[TurnRecord]:
    """The records of a run directory (or of its ``transcripts.jsonl``); ConfigurationError if none."""
    place = Path(path)
    file = place / TRANSCRIPTS_FILE if place.is_dir() else place
    if not file.is_file():
        raise ConfigurationError(
            f"{place} is not an evaluation run: no {TRANSCRIPTS_FILE} there; give the --out"
            " directory of a `lume-widget eval` run"
        )
    records = read_records(file)
    if not records:
        raise ConfigurationError(f"{file} holds no turn records; was the run interrupted at once?")
    return records


@dataclass(frozen=True)
class TurnChange:
    """One turn whose outcome or tier differs between the runs."""

    scenario: str
    persona: str
    goal: str | None
    repeat: int
    turn: int
    say: str
    before: str
    after: str
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @property
    def place(self) -> str:
        return f"{self.scenario} [{self.persona}, repeat {self.repeat}, turn {self.turn}]"


def _key(record: TurnRecord) -> RunKey:
    """What pairs a conversation across runs; a replayed one pairs with the one it replays."""
    original = record.replay_of
    if isinstance(original, list) and len(original) == 4:
        scenario, persona, goal, repeat = original
        if isinstance(scenario, str) and isinstance(persona, str) and isinstance(repeat, int):
            return (scenario, persona, goal if isinstance(goal, str) else None, repeat)
    return (record.scenario, record.persona, record.goal, record.repeat)


def _why(record: TurnRecord | None) -> str:
    if record is None:
        return "the turn was never reached"
    if record.error:
        return record.error
    return "; ".join(record.failures + record.check_errors)


def _timings(records: Sequence[TurnRecord]) -> dict[str, dict[str, float | None]]:
    good = [r for r in records if r.error is None]
    ttft = [r.ttft_s for r in good if r.ttft_s is not None]
    duration = [r.duration_s for r in good if r.duration_s is not None]
    return {
        "ttft_s": {"p50": percentile(ttft, 0.5), "p95": percentile(ttft, 0.95)},
        "duration_s": {"p50": percentile(duration, 0.5), "p95": percentile(duration, 0.95)},
    }


def _delta(before: float | None, after: float | None) -> dict[str, float | None]:
    change = None if before is None or after is None else round(after - before, 6)
    return {"before": before, "after": after, "delta": change}


def _timing_deltas(base: Sequence[TurnRecord], new: Sequence[TurnRecord]) -> dict[str, Any]:
    a, b = _timings(base), _timings(new)
    return {metric: {q: _delta(a[metric][q], b[metric][q]) for q in ("p50", "p95")} for metric in a}


@dataclass
class Comparison:
    """The difference from a base run to a new one; renders as a table, HTML or JSON."""

    base: str
    new: str
    regressions: list[TurnChange] = field(default_factory=list)
    fixes: list[TurnChange] = field(default_factory=list)
    tier_changes: list[TurnChange] = field(default_factory=list)
    new_conversations: list[RunKey] = field(default_factory=list)
    removed_conversations: list[RunKey] = field(default_factory=list)
    new_scenarios: list[str] = field(default_factory=list)
    removed_scenarios: list[str] = field(default_factory=list)
    pass_rate: dict[str, dict[str, float | None]] = field(default_factory=dict)
    timing: dict[str, Any] = field(default_factory=dict)
    by_scenario_timing: dict[str, Any] = field(default_factory=dict)
    turns_compared: int = 0

    @property
    def regressed(self) -> bool:
        """True when some turn that passed in the base run fails in the new one."""
        return bool(self.regressions)

    @property
    def exit_code(self) -> int:
        """0: nothing regressed; 1: something did."""
        return 1 if self.regressed else 0

    def __repr__(self) -> str:
        return (
            f"Comparison({len(self.regressions)} regressions, {len(self.fixes)} fixes,"
            f" {len(self.new_conversations)} new, {len(self.removed_conversations)} removed"
            f" conversations, {self.turns_compared} turns compared)"
        )

    def to_dict(self) -> dict[str, Any]:
        """The comparison as plain JSON-ready data (what :meth:`write_json` writes)."""
        return {
            "base": self.base,
            "new": self.new,
            "regressed": self.regressed,
            "turns_compared": self.turns_compared,
            "regressions": [c.to_dict() for c in self.regressions],
            "fixes": [c.to_dict() for c in self.fixes],
            "tier_changes": [c.to_dict() for c in self.tier_changes],
            "new_conversations": [list(k) for k in self.new_conversations],
            "removed_conversations": [list(k) for k in self.removed_conversations],
            "new_scenarios": self.new_scenarios,
            "removed_scenarios": self.removed_scenarios,
            "pass_rate": self.pass_rate,
            "timing": self.timing,
            "by_scenario_timing": self.by_scenario_timing,
        }

    def write_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON to ``path``; returns the path."""
        target = Path(path)
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False)
        target.write_text(valid_text(text) + "\n", encoding="utf-8")
        return target

    def write_html(self, path: str | Path) -> Path:
        """Write the comparison as a self-contained HTML page to ``path``; returns the path."""
        target = Path(path)
        document = page(f"Compare {self.base} and {self.new}", self._repr_html_())
        target.write_text(valid_text(document), encoding="utf-8")
        return target

    # -- terminal --------------------------------------------------------------------------

    def render(self) -> Group:
        """A rich renderable: the verdict, the changed turns, pass rates and timings."""
        parts: list[Any] = []
        verdict = (
            Text(f"REGRESSED: {len(self.regressions)} turns", style="bold red")
            if self.regressed
            else Text("no regression", style="bold green")
        )
        parts.append(
            Text.assemble(
                verdict,
                f" · {len(self.fixes)} fixed · {self.turns_compared} turns compared"
                f" · base {self.base} → new {self.new}",
            )
        )
        for title, changes, style in (
            ("regression", self.regressions, "bold red"),
            ("fixed", self.fixes, "bold green"),
            ("tier", self.tier_changes, "yellow"),
        ):
            for change in changes:
                parts.append(
                    Text.assemble(
                        (f"{title.upper()} ", style),
                        f"{change.place}: {change.before} → {change.after}",
                        (f"  {change.why}" if change.why else "", "dim"),
                    )
                )
        for label, keys in (
            ("NEW", self.new_conversations),
            ("REMOVED", self.removed_conversations),
        ):
            for scenario, persona, _goal, repeat in keys:
                parts.append(Text(f"{label} {scenario} [{persona}, repeat {repeat}]", style="cyan"))
        table = Table(title="Per scenario", title_justify="left")
        for column in (
            "scenario",
            "pass rate before",
            "after",
            "change",
            "TTFT p50 Δ",
            "TTFT p95 Δ",
        ):
            table.add_column(column, justify="left" if column == "scenario" else "right")
        for name, rate in self.pass_rate.items():
            timing = self.by_scenario_timing.get(name, {}).get("ttft_s", {})
            table.add_row(
                name,
                _pct(rate["before"]),
                _pct(rate["after"]),
                _signed_pct(rate["change"]),
                _signed_s(timing.get("p50", {}).get("delta")),
                _signed_s(timing.get("p95", {}).get("delta")),
            )
        parts.append(table)
        overall = self.timing
        parts.append(
            Text(
                "overall: TTFT p50 "
                + _signed_s(overall["ttft_s"]["p50"]["delta"])
                + ", p95 "
                + _signed_s(overall["ttft_s"]["p95"]["delta"])
                + "; duration p50 "
                + _signed_s(overall["duration_s"]["p50"]["delta"])
                + ", p95 "
                + _signed_s(overall["duration_s"]["p95"]["delta"]),
                style="dim",
            )
        )
        return Group(*parts)

    # -- notebook and HTML -----------------------------------------------------------------

    def _repr_html_(self) -> str:
        from html import escape

        def e(value: Any) -> str:
            return escape(valid_text("" if value is None else str(value)), quote=True)

        badge = (
            f'<span class="badge failed">REGRESSED: {len(self.regressions)} turns</span>'
            if self.regressed
            else '<span class="badge passed">NO REGRESSION</span>'
        )
        parts = [f"<style>{STYLE}</style>", f'<div class="{ROOT_CLASS}">']
        parts.append(
            f'<div class="headline">{badge} {len(self.fixes)} fixed &middot;'
            f" {self.turns_compared} turns compared &middot; base <code>{e(self.base)}</code>"
            f" &rarr; new <code>{e(self.new)}</code></div>"
        )
        for title, changes, css in (
            ("Regressions", self.regressions, "failed"),
            ("Fixes", self.fixes, "passed"),
            ("Tier changes", self.tier_changes, "error"),
        ):
            if not changes:
                continue
            parts.append(
                f"<h2>{title}</h2><table><tr><th>where</th><th>say</th><th>before</th>"
                "<th>after</th><th>why</th></tr>"
            )
            for c in changes:
                parts.append(
                    f'<tr class="{css}"><td>{e(c.place)}</td><td>{e(c.say)}</td>'
                    f"<td>{e(c.before)}</td><td>{e(c.after)}</td><td>{e(c.why)}</td></tr>"
                )
            parts.append("</table>")
        if self.new_conversations or self.removed_conversations:
            parts.append("<h2>New and removed</h2><ul>")
            for label, keys in (
                ("new", self.new_conversations),
                ("removed", self.removed_conversations),
            ):
                for scenario, persona, _goal, repeat in keys:
                    parts.append(f"<li>{label}: {e(scenario)} [{e(persona)}, repeat {repeat}]</li>")
            parts.append("</ul>")
        parts.append(
            "<h2>Per scenario</h2><table><tr><th>scenario</th><th>pass rate before</th>"
            "<th>after</th><th>change</th><th>TTFT p50 &Delta;</th><th>TTFT p95 &Delta;</th>"
            "<th>duration p50 &Delta;</th><th>duration p95 &Delta;</th></tr>"
        )
        for name, rate in self.pass_rate.items():
            t = self.by_scenario_timing.get(name, {})
            cells = [
                _signed_s(t.get(metric, {}).get(q, {}).get("delta"))
                for metric in ("ttft_s", "duration_s")
                for q in ("p50", "p95")
            ]
            parts.append(
                f'<tr><td>{e(name)}</td><td class="num">{_pct(rate["before"])}</td>'
                f'<td class="num">{_pct(rate["after"])}</td>'
                f'<td class="num">{_signed_pct(rate["change"])}</td>'
                + "".join(f'<td class="num">{e(c)}</td>' for c in cells)
                + "</tr>"
            )
        parts.append("</table></div>")
        return "".join(parts)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _signed_pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0%}"


def _signed_s(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f} s"


def compare_records(
    base: Sequence[TurnRecord],
    new: Sequence[TurnRecord],
    *,
    base_name: str = "base",
    new_name: str = "new",
) -> Comparison:
    """The comparison of two runs' records (base first)."""
    result = Comparison(base=base_name, new=new_name)
    before = _runs(base)
    after = _runs(new)
    for key in before:
        if key not in after:
            result.removed_conversations.append(key)
    for key in after:
        if key not in before:
            result.new_conversations.append(key)
    for key in before:
        if key not in after:
            continue
        old_turns = {r.turn: r for r in before[key]}
        new_turns = {r.turn: r for r in after[key]}
        for position in sorted(set(old_turns) | set(new_turns)):
            old, fresh = old_turns.get(position), new_turns.get(position)
            if old is None:
                continue  # a longer conversation now: its extra turns are new, not changed
            result.turns_compared += 1
            was = old.outcome
            now = fresh.outcome if fresh is not None else "skipped"
            change = TurnChange(
                scenario=key[0],
                persona=key[1],
                goal=key[2],
                repeat=key[3],
                turn=position,
                say=(fresh or old).say,
                before=was,
                after=now,
                why=_why(fresh) if now != "passed" else _why(old),
            )
            if was == "passed" and now != "passed":
                result.regressions.append(change)
            elif was != "passed" and now == "passed":
                result.fixes.append(change)
            if fresh is not None and old.tier and fresh.tier and old.tier != fresh.tier:
                result.tier_changes.append(
                    TurnChange(
                        key[0], key[1], key[2], key[3], position, fresh.say, old.tier, fresh.tier
                    )
                )
    old_scenarios = list(dict.fromkeys(r.scenario for r in base))
    new_scenarios = list(dict.fromkeys(_key(r)[0] for r in new))
    result.removed_scenarios = [s for s in old_scenarios if s not in new_scenarios]
    result.new_scenarios = [s for s in new_scenarios if s not in old_scenarios]
    for name in dict.fromkeys([*old_scenarios, *new_scenarios]):
        mine_before = [r for r in base if r.scenario == name]
        mine_after = [r for r in new if _key(r)[0] == name]
        rate_before = repeats(mine_before)["pass_rate"] if mine_before else None
        rate_after = repeats(mine_after)["pass_rate"] if mine_after else None
        moved = (
            None
            if rate_before is None or rate_after is None
            else round(rate_after - rate_before, 4)
        )
        result.pass_rate[name] = {"before": rate_before, "after": rate_after, "change": moved}
        result.by_scenario_timing[name] = _timing_deltas(mine_before, mine_after)
    result.timing = _timing_deltas(base, new)
    return result


def _runs(records: Sequence[TurnRecord]) -> dict[RunKey, list[TurnRecord]]:
    grouped: dict[RunKey, list[TurnRecord]] = {}
    for record in records:
        grouped.setdefault(_key(record), []).append(record)
    return grouped


def compare_runs(base: str | Path, new: str | Path) -> Comparison:
    """Load two run directories and compare them; ConfigurationError when either is not a run."""
    return compare_records(load_run(base), load_run(new), base_name=str(base), new_name=str(new))
