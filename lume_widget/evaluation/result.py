"""The result of an evaluation in a notebook: the run's report inline, a DataFrame, plots, transcripts, a diff against another run.

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
from lume_widget.evaluation.compare import Comparison, compare_records, load_run
from lume_widget.evaluation.html_report import render_report
from lume_widget.evaluation.records import TurnRecord
from lume_widget.evaluation.transcript import TranscriptView

if TYPE_CHECKING:
    import pandas
    from matplotlib.figure import Figure

__all__ = ["EvaluationResult", "HtmlView"]


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


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
        body = render_report(
            self.records, self.summary, where=None if self.out_dir is None else str(self.out_dir)
        )
        notes = "".join(f"<div><em>note:</em> {_e(note)}</div>" for note in self.notes)
        return body + notes

    def report(self) -> HtmlView:
        """The run's report inline (the same page as ``report.html`` in the run directory)."""
        return HtmlView(self._repr_html_())

    def compare(self, base: str | Path | EvaluationResult) -> Comparison:
        """What changed from ``base`` (a run directory or result) to this run; see :mod:`.compare`."""
        if isinstance(base, EvaluationResult):
            base_records, base_name = base.records, str(base.out_dir or "base")
        else:
            base_records, base_name = load_run(base), str(base)
        return compare_records(
            base_records,
            self.records,
            base_name=base_name,
            new_name=str(self.out_dir or "this run"),
        )


class HtmlView:
    """HTML that a notebook displays as is."""

    def __init__(self, markup: str) -> None:
        self.markup = markup

    def __repr__(self) -> str:
        return f"HtmlView({len(self.markup)} characters of HTML)"

    def _repr_html_(self) -> str:
        return self.markup
