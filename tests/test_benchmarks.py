"""The benchmark runner: `python -m benchmarks --quick --only latency` prints the table and writes well-formed JSON.

No timing is asserted (machines are shared and noisy): only that the run completes, the
table has its columns, and every row in the JSON has a number or says why it has none.
The result helpers (percentile, targets, verdicts) are checked directly.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# benchmarks/ is a top-level directory of the repository, not part of the installed package.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import Target, percentile, row, skipped_row  # noqa: E402

ROW_FIELDS = {
    "benchmark",
    "figure",
    "unit",
    "ours",
    "reference",
    "reference_name",
    "target",
    "verdict",
    "ratio",
    "note",
}


def run_benchmarks(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        env=env,
        check=False,
    )


def test_benchmarks_quick_latency_prints_table_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    markdown = tmp_path / "bench.md"
    done = run_benchmarks(
        "--quick", "--only", "latency", "--json", str(out), "--markdown", str(markdown)
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for column in (
        "benchmark",
        "figure",
        "ours",
        "reference",
        "ratio",
        "target",
        "verdict",
        "note",
    ):
        assert column in done.stdout
    assert "latency" in done.stdout

    document = json.loads(out.read_text(), parse_constant=pytest.fail)  # NaN/Infinity refused
    assert document["quick"] is True
    assert document["machine"]["cpus"] >= 1
    assert document["generated_at"]
    assert [b["name"] for b in document["benchmarks"]] == ["latency"]
    rows = document["benchmarks"][0]["rows"]
    assert rows, "a benchmark reports at least one row"
    for r in rows:
        assert set(r) == ROW_FIELDS
        assert r["benchmark"] == "latency"
        if r["verdict"].startswith("skipped: "):
            assert r["ours"] is None
            assert len(r["verdict"]) > len("skipped: ")
        else:
            assert r["verdict"] in {"met", "missed", "info"}
            assert isinstance(r["ours"], int | float)
            assert math.isfinite(r["ours"])
            assert r["ours"] >= 0
        if r["ratio"] is not None:
            assert r["ratio"] == pytest.approx(r["ours"] / r["reference"])

    table = markdown.read_text().splitlines()
    assert table[0].startswith("| benchmark | figure | ours | reference | ratio | target |")
    assert len(table) == 2 + len(rows)


def test_benchmarks_unknown_name_is_refused_with_the_choices() -> None:
    done = run_benchmarks("--only", "nonsense")
    assert done.returncode == 2
    assert "ingest" in done.stderr
    assert "nonsense" in done.stderr


def test_benchmarks_percentile_interpolates_between_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == pytest.approx(2.5)
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError, match="at least one sample"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        percentile(values, 101)


def test_benchmarks_row_ratio_and_verdicts_follow_the_target() -> None:
    met = row("x", "rate", "1/s", 6.0, 10.0, target=Target("ratio_at_least", 0.6))
    assert met.ratio == pytest.approx(0.6)
    assert met.verdict == "met"
    missed = row("x", "size", "KB", 151.0, target=Target("ours_at_most", 150.0))
    assert missed.ratio is None
    assert missed.verdict == "missed"
    info = row("x", "fps", "fps", float("nan"), 60.0)
    assert info.ours is None
    assert info.ratio is None
    assert info.verdict == "info"


def test_benchmarks_skipped_rows_keep_the_reason_and_no_number() -> None:
    skipped = row("x", "rate", "1/s", 5.0, 10.0, reference_name="floor", skipped="no client")
    assert skipped.ours is None
    assert skipped.ratio is None
    assert skipped.reference == 10.0
    assert skipped.verdict == "skipped: no client"
    whole = skipped_row("x", "all figures", "chromium is missing")
    assert whole.verdict == "skipped: chromium is missing"
    assert whole.reference is None


def test_benchmarks_busiest_second_counts_the_densest_window() -> None:
    from benchmarks.channel import _busiest_second

    assert _busiest_second([]) == 0
    assert _busiest_second([5.0]) == 1
    # a burst of four within 0.3 s, then one message a second
    assert _busiest_second([0.0, 0.1, 0.2, 0.3, 1.5, 2.5, 3.5]) == 4
    assert _busiest_second([3.0, 0.0, 1.0, 2.0]) == 2  # window edges included, order ignored


async def test_benchmarks_server_cpu_is_read_from_its_process_and_none_without_one() -> None:
    import asyncio

    from benchmarks.server import ServerHandle

    handle = ServerHandle("http://127.0.0.1:1", "k", "e", "p", "a")
    assert handle.cpu_s() is None
    burn = (
        "import sys, time\nend = time.process_time() + 0.05\n"
        "while time.process_time() < end: pass\nprint('burnt', flush=True)\nsys.stdin.read()\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", burn, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    handle.process = process
    try:
        assert process.stdout is not None
        assert await process.stdout.readline() == b"burnt\n"
        used = handle.cpu_s()
        assert used is not None
        assert used >= 0.04
    finally:
        assert process.stdin is not None
        process.stdin.close()
        await process.wait()
    assert handle.cpu_s() is None  # gone: unknown, not zero
