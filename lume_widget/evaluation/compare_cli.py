"""``lume-widget compare BASE NEW``: the difference between two evaluation runs, as a gate for CI.

Exit codes: 0 when nothing regressed, 1 when some turn that passed in BASE failed, ended
in an error or was not reached in NEW, 2 when either directory is not a run (or on bad usage).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from lume_widget.errors import ConfigurationError
from lume_widget.evaluation.compare import compare_runs

__all__ = ["configure", "run"]

EXIT_USAGE = 2


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", type=Path, help="the --out directory of the earlier run")
    parser.add_argument("new", type=Path, help="the --out directory of the run to judge")
    parser.add_argument("--html", type=Path, default=None, help="also write the diff as HTML")
    parser.add_argument("--json", type=Path, default=None, help="also write the diff as JSON")


def run(args: argparse.Namespace) -> int:
    console = Console() if Console().is_terminal else Console(width=140)
    errors = Console(stderr=True, soft_wrap=True)
    try:
        comparison = compare_runs(args.base, args.new)
    except ConfigurationError as exc:
        errors.print(f"error: {exc}", markup=False, highlight=False)
        return EXIT_USAGE
    console.print(comparison.render())
    try:
        if args.html is not None:
            comparison.write_html(args.html)
        if args.json is not None:
            comparison.write_json(args.json)
    except OSError as exc:
        errors.print(f"error: cannot write the diff: {exc}", markup=False, highlight=False)
        return EXIT_USAGE
    return comparison.exit_code
