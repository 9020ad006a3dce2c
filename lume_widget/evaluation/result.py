"""The result of an evaluation in a notebook: an HTML table with failures highlighted, a DataFrame, plots, transcripts.

:class:`EvaluationResult` holds every turn record and the summary. It renders itself in
Jupyter (``_repr_html_``), converts to pandas, plots TTFT and duration per persona with
matplotlib, and opens any conversation as a read-only chat view. All content from the
backend is escaped before it becomes HTML.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lume_widget.errors import ConfigurationError
from lume_widget.evaluation.records import TurnRecord
from lume_widget.evaluation.transcript import TranscriptView

if TYPE_CHECKING:
    import pandas
    from matplotlib.figure import Figure

__all__ = ["EvaluationResult"]

_REPLY_PREVIEW = 160

_STYLE = """
<style>
.lume-eval {font-family: var(--jp-ui-font-family, system-ui, sans-serif); font-size: 13px}
.lume-eval table {border-collapse: collapse; margin: 4px 0 10px}
.lume-eval th, .lume-eval td {border: 1px solid #ddd; padding: 3px 6px; text-align: left;
  vertical-align: top}
.lume-eval th {background: #f3f4f6}
.lume-eval td.num {text-align: right; font-variant-numeric: tabular-nums}
.lume-eval tr.failed td {background: #fde8e8}
.lume-eval tr.error td {background: #fff4d6}
.lume-eval .badge {display: inline-block; padding: 0 6px; border-radius: 8px; font-weight: 600}
.lume-eval .badge.passed {background: #d1fadf; color: #05603a}
.lume-eval .badge.failed {background: #fecdca; color: #912018}
.lume-eval .badge.error {background: #fedf89; color: #7a2e0e}
.lume-eval ul.why {margin: 0; padding-left: 16px; color: #912018}
.lume-eval .headline {font-size: 14px; margin: 4px 0}
</style>
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _preview(text: str) -> str:
    return text if len(text) <= _REPLY_PREVIEW else text[: _REPLY_PREVIEW - 3] + "..."


@dataclass
class EvaluationResult:
    """Every turn of a run and its summary. ``passed`` is True when every planned turn passed."""

    records: list[TurnRecord]
    summary: dict[str, Any]
    out_dir: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every turn passed and none ended in an error."""
        return bool(self.summary.get("all_passed"))

    @property
    def failures(self) -> list[TurnRecord]:
        """Turns whose expectations failed."""
        return [record for record in self.records if record.outcome == "failed"]

    @property
    def errors(self) -> list[TurnRecord]:
        """Turns that ended in an error (no verdict)."""
        return [record for record in self.records if record.outcome == "error"]

    @property
    def exit_code(self) -> int:
        """0 when everything passed, 1 when some turn failed or ended in an error."""
        return 0 if self.passed else 1

    def __repr__(self) -> str:
        turns = self.summary["turns"]
        return (
            f"EvaluationResult({turns['passed']} passed, {turns['failed']} failed,"
            f" {turns['error']} errors, {turns['skipped']} skipped of {turns['planned']} turns)"
        )

    def conversation(
        self, scenario: str, repeat: int = 0, persona: str | None = None
    ) -> list[TurnRecord]:
        """The records of one conversation, in turn order."""
        matches = [
            record
            for record in self.records
            if record.scenario == scenario
            and record.repeat == repeat
            and (persona is None or record.persona == persona)
        ]
        personas = sorted({record.persona for record in matches})
        if not matches:
            known = ", ".join(sorted({record.scenario for record in self.records}))
            raise KeyError(
                f"no conversation {scenario!r} with repeat {repeat} in this result;"
                f" scenarios: {known or 'none'}"
            )
        if len(personas) > 1:
            raise KeyError(
                f"scenario {scenario!r} ran with several personas ({', '.join(personas)});"
                " pass persona= to choose one"
            )
        return sorted(matches, key=lambda record: record.turn)

    def open_transcript(
        self, scenario: str, repeat: int = 0, persona: str | None = None
    ) -> TranscriptView:
        """A read-only chat view of one conversation, its metrics and verdicts beside each reply."""
        return TranscriptView(self.conversation(scenario, repeat, persona))

    # -- pandas and matplotlib -----------------------------------------------------------

    def to_pandas(self) -> pandas.DataFrame:
        """One row per turn, the columns of ``transcripts.jsonl`` plus ``outcome``."""
        try:
            import pandas
        except ImportError as exc:
            raise ConfigurationError(
                "to_pandas() needs pandas; install it with: pip install 'lume-widget[analysis]'"
            ) from exc
        columns = [*TurnRecord.__dataclass_fields__, "outcome"]
        return pandas.DataFrame([record.to_dict() for record in self.records], columns=columns)

    def plot(self) -> Figure:
        """TTFT and duration per persona, each turn a dot over a box, failures in red."""
        try:
            # pyplot, not a bare Figure: importing it is what registers the notebook's
            # inline image formatter. The figure is closed at once so it shows only as
            # this method's result, never a second time at the end of the cell.
            from matplotlib import pyplot
        except ImportError as exc:
            raise ConfigurationError(
                "plot() needs matplotlib; install it with: pip install 'lume-widget[analysis]'"
            ) from exc
        judged = [record for record in self.records if record.error is None]
        personas = sorted({record.persona for record in judged}) or ["(none)"]
        figure = pyplot.figure(figsize=(10, 3.8), layout="constrained")
        pyplot.close(figure)
        axes = figure.subplots(1, 2)
        for axis, metric, label in (
            (axes[0], "ttft_s", "time to first token (s)"),
            (axes[1], "duration_s", "reply duration (s)"),
        ):
            series = [
                [
                    getattr(r, metric)
                    for r in judged
                    if r.persona == p and getattr(r, metric) is not None
                ]
                for p in personas
            ]
            if any(series):
                axis.boxplot(
                    [values or [float("nan")] for values in series],
                    showfliers=False,
                    widths=0.5,
                )
            for index, persona in enumerate(personas, start=1):
                for record in judged:
                    value = getattr(record, metric)
                    if record.persona != persona or value is None:
                        continue
                    colour = "#d92d20" if record.outcome == "failed" else "#1570ef"
                    axis.plot(index, value, "o", color=colour, alpha=0.6, markersize=4)
            axis.set_xticks(range(1, len(personas) + 1), personas, rotation=15)
            axis.set_ylabel(label)
            axis.set_ylim(bottom=0)
            axis.grid(axis="y", alpha=0.3)
        figure.suptitle("Per persona (red: failed expectations)")
        return figure

    # -- notebook display ------------------------------------------------------------------

    def _repr_html_(self) -> str:
        summary = self.summary
        turns = summary["turns"]
        verdict = "passed" if self.passed else ("failed" if turns["failed"] else "error")
        parts = [_STYLE, '<div class="lume-eval">']
        parts.append(
            f'<div class="headline"><span class="badge {verdict}">{_e(verdict.upper())}</span> '
            f"{turns['passed']} passed, {turns['failed']} failed, {turns['error']} errors,"
            f" {turns['skipped']} skipped of {turns['planned']} turns"
            + (f" &middot; results in <code>{_e(self.out_dir)}</code>" if self.out_dir else "")
            + "</div>"
        )
        parts.append(self._persona_table())
        parts.append(self._turn_table())
        for note in self.notes:
            parts.append(f"<div><em>note:</em> {_e(note)}</div>")
        parts.append("</div>")
        return "".join(parts)

    def _persona_table(self) -> str:
        rows = [
            "<table><tr><th>persona</th><th>turns</th><th>passed</th><th>failed</th>"
            "<th>errors</th><th>pass rate</th><th>TTFT p50</th><th>TTFT p95</th>"
            "<th>duration p50</th><th>duration p95</th></tr>"
        ]
        groups = [*self.summary["by_persona"].items(), ("all", self.summary)]
        for name, group in groups:
            t = group["turns"]
            rate = group["pass_rate"]
            css = "failed" if t["failed"] else ("error" if t["error"] else "")
            rows.append(
                f'<tr class="{css}"><td><b>{_e(name)}</b></td><td class="num">{t["run"]}</td>'
                f'<td class="num">{t["passed"]}</td><td class="num">{t["failed"]}</td>'
                f'<td class="num">{t["error"]}</td>'
                f'<td class="num">{"" if rate is None else f"{rate:.0%}"}</td>'
                f'<td class="num">{_num(group["ttft_s"]["p50"])}</td>'
                f'<td class="num">{_num(group["ttft_s"]["p95"])}</td>'
                f'<td class="num">{_num(group["duration_s"]["p50"])}</td>'
                f'<td class="num">{_num(group["duration_s"]["p95"])}</td></tr>'
            )
        rows.append("</table>")
        return "".join(rows)

    def _turn_table(self) -> str:
        rows = [
            "<table><tr><th>scenario</th><th>persona</th><th>repeat</th><th>turn</th>"
            "<th>say</th><th>reply</th><th>outcome</th><th>TTFT s</th><th>duration s</th>"
            "<th>tier</th></tr>"
        ]
        for record in self.records:
            outcome = record.outcome
            why = ""
            if record.failures:
                why = (
                    '<ul class="why">'
                    + "".join(f"<li>{_e(f)}</li>" for f in record.failures)
                    + "</ul>"
                )
            elif record.error:
                why = f'<ul class="why"><li>{_e(record.error)}</li></ul>'
            rows.append(
                f'<tr class="{outcome}"><td>{_e(record.scenario)}</td><td>{_e(record.persona)}</td>'
                f'<td class="num">{record.repeat}</td><td class="num">{record.turn}</td>'
                f"<td>{_e(record.say)}</td><td>{_e(_preview(record.reply))}{why}</td>"
                f'<td><span class="badge {outcome}">{_e(outcome)}</span></td>'
                f'<td class="num">{_num(record.ttft_s)}</td>'
                f'<td class="num">{_num(record.duration_s)}</td><td>{_e(record.tier)}</td></tr>'
            )
        rows.append("</table>")
        return "".join(rows)
