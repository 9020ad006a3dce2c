"""Shared pieces of the benchmarks: result rows, targets and verdicts, percentiles, the table and the JSON file.

Every benchmark returns :class:`Row` objects: one figure measured for our code next to
its reference (the floor the hardware and libraries allow, or a peer a user would pick
instead), the ratio of the two, the target and whether it was met. A benchmark that
cannot run (a part of the project is missing, chromium is absent) raises :class:`Skip`,
and the table says ``skipped: <why>`` instead of a number.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import os
import platform
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

log = logging.getLogger("benchmarks")

DEFAULT_JSON_PATH = Path("artifacts/benchmarks.json")

Comparison = Literal["ours_at_most", "ours_at_least", "ratio_at_least", "ratio_at_most", "info"]


class Skip(Exception):
    """A benchmark (or one of its figures) cannot run here; the message says why."""


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """What a figure should reach: a bound on our value or on the ratio ours / reference."""

    comparison: Comparison
    bound: float = math.nan
    text: str = ""

    def describe(self) -> str:
        if self.text:
            return self.text
        symbol = {
            "ours_at_most": "<= ",
            "ours_at_least": ">= ",
            "ratio_at_least": "ratio >= ",
            "ratio_at_most": "ratio <= ",
            "info": "",
        }[self.comparison]
        return "" if self.comparison == "info" else f"{symbol}{self.bound:g}"

    def verdict(self, ours: float | None, ratio: float | None) -> str:
        if self.comparison == "info":
            return "info"
        value = ratio if self.comparison.startswith("ratio") else ours
        if value is None or math.isnan(value):
            return "n/a"
        if self.comparison.endswith("at_most"):
            return "met" if value <= self.bound else "missed"
        return "met" if value >= self.bound else "missed"


INFO = Target("info")


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: a figure for ours and its reference, with target and verdict."""

    benchmark: str
    figure: str
    unit: str
    ours: float | None
    reference: float | None
    reference_name: str
    target: str
    verdict: str
    ratio: float | None = None
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def row(
    benchmark: str,
    figure: str,
    unit: str,
    ours: float | None,
    reference: float | None = None,
    *,
    reference_name: str = "",
    target: Target = INFO,
    note: str = "",
    skipped: str | None = None,
) -> Row:
    """Build a row, computing ratio = ours / reference and the verdict against ``target``.

    ``skipped`` is the reason ours could not be measured: the row then keeps the
    reference (when there is one) and says ``skipped: <why>`` instead of a verdict.
    """
    ours = None if skipped else _finite_or_none(ours)
    reference = _finite_or_none(reference)
    ratio: float | None = None
    if ours is not None and reference is not None and reference != 0:
        ratio = ours / reference
    return Row(
        benchmark=benchmark,
        figure=figure,
        unit=unit,
        ours=ours,
        reference=reference,
        reference_name=reference_name,
        target=target.describe(),
        verdict=f"skipped: {skipped}" if skipped else target.verdict(ours, ratio),
        ratio=ratio,
        note=note,
    )


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def skipped_row(benchmark: str, figure: str, why: str, *, target: Target = INFO) -> Row:
    """A row for a figure that could not be measured: no number, the reason in the verdict."""
    return Row(
        benchmark=benchmark,
        figure=figure,
        unit="",
        ours=None,
        reference=None,
        reference_name="",
        target=target.describe(),
        verdict=f"skipped: {why}",
    )


@dataclasses.dataclass(slots=True)
class BenchmarkResult:
    """Everything one benchmark reported, plus how long it took and with which parameters."""

    name: str
    rows: list[Row]
    seconds: float
    parameters: dict[str, Any] = dataclasses.field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seconds": round(self.seconds, 3),
            "parameters": self.parameters,
            "rows": [r.as_json() for r in self.rows],
        }


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values: measure at least one sample")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * p / 100
    low = math.floor(position)
    high = math.ceil(position)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """Measure wall time of a block: ``with stopwatch() as t: ...`` then ``t[0]`` is seconds."""
    box = [math.nan]
    start = time.perf_counter()
    try:
        yield box
    finally:
        box[0] = time.perf_counter() - start


def machine() -> dict[str, Any]:
    """The size of the machine the figures come from, for the JSON file and the docs."""
    memory_gib: float | None = None
    try:
        import psutil

        memory_gib = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:  # psutil is optional: the size is then reported without memory
        pass
    load: list[float] | None = None
    if hasattr(os, "getloadavg"):
        load = [round(value, 2) for value in os.getloadavg()]
    return {
        "load_average": load,
        "cpus": os.cpu_count(),
        "memory_gib": memory_gib,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.machine(),
    }


def _format_number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.01:
        return f"{value:.2f}"
    return f"{value:.2g}"


def format_ratio(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}x"


def build_table(results: Sequence[BenchmarkResult], *, title: str) -> Table:
    """The rich table: figure, ours, reference, ratio, target, verdict (one section per benchmark)."""
    table = Table(title=title, show_lines=False, title_justify="left")
    table.add_column("benchmark", style="bold")
    table.add_column("figure")
    table.add_column("ours", justify="right")
    table.add_column("reference", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("target")
    table.add_column("verdict")
    table.add_column("note", style="dim")
    for index, result in enumerate(results):
        for position, r in enumerate(result.rows):
            unit = f" {r.unit}" if r.unit else ""
            reference = _format_number(r.reference)
            if r.reference is not None and r.reference_name:
                reference = f"{reference}{unit} ({r.reference_name})"
            elif r.reference is not None:
                reference = f"{reference}{unit}"
            ours = "-" if r.ours is None else f"{_format_number(r.ours)}{unit}"
            style = {"met": "green", "missed": "red"}.get(r.verdict, "")
            if r.verdict.startswith("skipped"):
                style = "yellow"
            table.add_row(
                result.name if position == 0 else "",
                r.figure,
                ours,
                reference,
                format_ratio(r.ratio),
                r.target,
                f"[{style}]{r.verdict}[/{style}]" if style else r.verdict,
                r.note,
                end_section=position == len(result.rows) - 1 and index < len(results) - 1,
            )
    return table


def markdown_table(results: Sequence[BenchmarkResult]) -> str:
    """The same table as Markdown, for docs/benchmarks.md and the README."""
    lines = [
        "| benchmark | figure | ours | reference | ratio | target | verdict | note |",
        "|---|---|---:|---:|---:|---|---|---|",
    ]
    for result in results:
        for r in result.rows:
            unit = f" {r.unit}" if r.unit else ""
            ours = "-" if r.ours is None else f"{_format_number(r.ours)}{unit}"
            reference = "-"
            if r.reference is not None:
                reference = f"{_format_number(r.reference)}{unit}"
                if r.reference_name:
                    reference += f" ({r.reference_name})"
            lines.append(
                f"| {result.name} | {r.figure} | {ours} | {reference} | "
                f"{format_ratio(r.ratio)} | {r.target} | {r.verdict} | {r.note} |"
            )
    return "\n".join(lines)


def write_json(
    results: Sequence[BenchmarkResult],
    path: Path,
    *,
    quick: bool,
    total_seconds: float,
    machine_info: dict[str, Any] | None = None,
) -> None:
    """Write every result, the machine's size and the date to ``path`` (parents created).

    ``machine_info`` is :func:`machine` taken when the run started (its load average is
    the one the figures were measured under); taken now when not given.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "quick": quick,
        "total_seconds": round(total_seconds, 3),
        "machine": machine_info or machine(),
        "benchmarks": [r.as_json() for r in results],
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(document, indent=2, allow_nan=False, default=_json_default) + "\n")
    tmp.replace(path)


def _json_default(value: object) -> object:
    raise TypeError(f"cannot write {type(value).__name__} to the benchmark JSON")


def print_results(results: Sequence[BenchmarkResult], console: Console, *, title: str) -> None:
    console.print(build_table(results, title=title))
