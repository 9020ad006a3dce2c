"""``python -m benchmarks``: run the side-by-side benchmarks, print the table, write the JSON.

Usage::

    python -m benchmarks                      # every benchmark, full size
    python -m benchmarks --quick              # reduced sizes, under two minutes in all
    python -m benchmarks --only ingest channel --json artifacts/bench.json

Each benchmark runs in turn against its own reference server on 127.0.0.1 (a child
process, so the server's CPU never counts as the client's). A benchmark that fails
or cannot run is reported in the table with the reason; the others still run.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from benchmarks.common import (
    DEFAULT_JSON_PATH,
    BenchmarkResult,
    Skip,
    machine,
    print_results,
    skipped_row,
    write_json,
)
from benchmarks.context import Context

log = logging.getLogger("benchmarks")

# name -> (module, what it measures); the order is the order of the table.
BENCHMARKS: dict[str, tuple[str, str]] = {
    "ingest": (
        "benchmarks.ingest",
        "chunks/s of one long reply: bare websockets vs client vs widget",
    ),
    "channel": (
        "benchmarks.channel",
        "comm messages and bytes the widget sends, vs panel ChatFeed",
    ),
    "latency": (
        "benchmarks.latency",
        "server's first chunk to the client's event and the widget's",
    ),
    "fallback": (
        "benchmarks.fallback",
        "time added to a turn by a refused upgrade or a dropped socket",
    ),
    "many": ("benchmarks.many", "200 consultations at once, one turn each"),
    "frontend": ("benchmarks.frontend", "headless chromium: long tasks, fps, history, bundle size"),
    "evaluation": ("benchmarks.evaluation", "evaluation runner throughput and overhead per turn"),
    "start": ("benchmarks.start", "imports and ChatWidget() to connected, fresh interpreters"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure lume_widget side by side with its floor and its peers.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="reduced sizes (under two minutes in all); figures are reported, not asserted",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        choices=list(BENCHMARKS),
        help=f"run only these benchmarks ({', '.join(BENCHMARKS)})",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON_PATH,
        metavar="PATH",
        help=f"where to write the results as JSON (default {DEFAULT_JSON_PATH})",
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the table as Markdown (for docs/benchmarks.md)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more")
    return parser


async def run_one(name: str, ctx: Context) -> BenchmarkResult:
    """Run one benchmark; a Skip or a failure becomes a row saying so, never a fake number."""
    module_name, _ = BENCHMARKS[name]
    started = time.perf_counter()
    try:
        module = importlib.import_module(module_name)
        rows, parameters = await module.run(ctx)
    except Skip as exc:
        rows, parameters = [skipped_row(name, "all figures", str(exc))], {}
    except Exception as exc:
        log.exception("benchmark %s failed", name)
        why = f"failed with {type(exc).__name__}: {exc}".replace("\n", " ")[:200]
        rows, parameters = [skipped_row(name, "all figures", why)], {}
    finally:
        await ctx.close_servers()
    from benchmarks.ours import close_hangs

    if close_hangs:
        parameters["close_hangs"] = list(close_hangs)
        close_hangs.clear()
    return BenchmarkResult(name, rows, time.perf_counter() - started, parameters)


async def run_all(names: Sequence[str], *, quick: bool, console: Console) -> list[BenchmarkResult]:
    results = []
    for name in names:
        console.print(f"[bold]{name}[/bold]: {BENCHMARKS[name][1]} ...")
        ctx = Context(quick=quick, console=console)
        result = await run_one(name, ctx)
        console.print(f"  done in {result.seconds:.1f} s")
        results.append(result)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # A wide table even when piped (CI logs), so figures never wrap mid-number.
    console = Console(width=None if sys.stdout.isatty() else 180)
    names = args.only or list(BENCHMARKS)
    size = machine()  # before the run: its load average is what the figures ran under
    started = time.perf_counter()
    results = asyncio.run(run_all(names, quick=args.quick, console=console))
    total = time.perf_counter() - started
    title = (
        f"lume_widget benchmarks ({'quick' if args.quick else 'full'}), "
        f"{size['cpus']} cpus, {size['memory_gib']} GiB, load {size['load_average']}, "
        f"{total:.0f} s"
    )
    print_results(results, console, title=title)
    write_json(results, args.json, quick=args.quick, total_seconds=total, machine_info=size)
    console.print(f"results written to {args.json}")
    if args.markdown is not None:
        from benchmarks.common import markdown_table

        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown_table(results) + "\n")
        console.print(f"markdown table written to {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
