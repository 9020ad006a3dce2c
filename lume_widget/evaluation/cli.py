"""``lume-widget eval``: run a scenario file from the command line with a progress bar and a summary table.

Exit codes: 0 when every turn passed, 1 when some turn failed or ended in an error,
2 on a bad scenario file or bad usage (the message names the line and the problem),
a missing judge model included.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from lume_widget.defaults import ENV_URL, PERSONAS
from lume_widget.errors import ConfigurationError, LumeError
from lume_widget.evaluation.api import default_out_dir, evaluate_async
from lume_widget.evaluation.html_report import REPORT_FILE
from lume_widget.evaluation.records import SUMMARY_FILE, TRANSCRIPTS_FILE
from lume_widget.evaluation.replayer import replay_async
from lume_widget.evaluation.report import render_summary
from lume_widget.evaluation.runner import MAX_ACTIVE_CONSULTATIONS, Progress
from lume_widget.evaluation.scenarios import ScenarioFile, ScenarioFileError, load_scenarios
from lume_widget.presentation import cli_message

__all__ = ["configure", "run"]

logger = logging.getLogger(__name__)

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenarios", type=Path, nargs="?", default=None, help="the scenario file (YAML)"
    )
    parser.add_argument(
        "--replay",
        type=Path,
        default=None,
        metavar="RUN_OR_TRANSCRIPTS",
        help="instead of a scenario file: send the recorded user turns of every conversation of"
        " a run (its --out directory or transcripts.jsonl) again, as a new run that"
        " `lume-widget compare` diffs against it; --persona P sends them to another persona",
    )
    parser.add_argument(
        "--goal",
        default=None,
        metavar="GOAL_ID",
        help="with --replay: tie every replayed conversation to this goal (its id on the backend)",
    )
    parser.add_argument(
        "--url",
        default=None,
        help=f"backend URL (default: ${ENV_URL}, else the embedded reference server)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for transcripts.jsonl and summary.json (default: lume-eval/run-<time>)",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive,
        default=4,
        help="conversations at once (default 4; capped at --max-active, as each holds an active consultation)",
    )
    parser.add_argument(
        "--max-active",
        type=_positive,
        default=MAX_ACTIVE_CONSULTATIONS,
        help="the backend's limit of active consultations per user (default %(default)s, as the"
        " real backend); concurrency is capped there",
    )
    parser.add_argument(
        "--repeat",
        type=_positive,
        default=None,
        help="run each scenario N times (overrides the file)",
    )
    parser.add_argument(
        "--persona",
        action="append",
        default=[],
        choices=PERSONAS,
        metavar="P",
        help="only conversations with this persona (repeatable)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out, skipping conversations already complete",
    )
    cleanup = parser.add_mutually_exclusive_group()
    cleanup.add_argument(
        "--keep",
        action="store_true",
        help="leave the consultations active (default: complete each when its conversation ends)",
    )
    cleanup.add_argument(
        "--delete", action="store_true", help="delete the consultations instead of completing them"
    )
    parser.add_argument("--api-key", default=None, help="API key (default: $LUME_API_KEY)")
    parser.add_argument("--email", default=None, help="account email (default: $LUME_EMAIL)")
    parser.add_argument(
        "--password",
        default=None,
        help="account password (default: $LUME_PASSWORD; prefer the variable over the flag)",
    )
    parser.add_argument("--token", default=None, help="access token (default: $LUME_TOKEN)")
    parser.add_argument(
        "--judge-url",
        default=None,
        help="OpenAI-compatible endpoint for rubric checks and simulated users, such as"
        " https://api.openai.com/v1 (default: $LUME_JUDGE_URL, else the file's judge.url);"
        " the key comes from $LUME_JUDGE_API_KEY, else $OPENAI_API_KEY",
    )
    parser.add_argument(
        "--judge-model",
        default=None,
        help="the judge's model name (default: $LUME_JUDGE_MODEL, else the file's judge.model)",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="ask the judge afresh instead of reusing answers cached beside --out",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (for logs and CI)"
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    console = Console()
    if not console.is_terminal:
        # Logs and CI: wide enough that the table never squeezes persona names.
        console = Console(width=140)
    errors = Console(stderr=True, soft_wrap=True)
    problem = _usage_problem(args)
    if problem:
        errors.print(f"error: {problem}", markup=False, highlight=False)
        return EXIT_USAGE
    scenario_file: ScenarioFile | None = None
    if args.replay is None:
        try:
            scenario_file = load_scenarios(args.scenarios)
        except ScenarioFileError as exc:
            errors.print(str(exc), markup=False, highlight=False)
            return EXIT_USAGE
    if args.resume and args.out is None:
        errors.print("--resume needs --out DIR: the directory of the run to continue", markup=False)
        return EXIT_USAGE
    out: Path = args.out or default_out_dir()
    if out.exists() and not out.is_dir():
        errors.print(
            f"--out {out} is a file; give a directory for the run (it is created if missing)",
            markup=False,
        )
        return EXIT_USAGE
    show_progress = not args.no_progress and console.is_terminal
    bar = _ProgressBar(console) if show_progress else None
    try:
        if bar is not None:
            bar.start()
        options: dict[str, Any] = {
            "url": args.url,
            "out": out,
            "concurrency": args.concurrency,
            "repeat": args.repeat,
            "resume": args.resume,
            "keep": args.keep,
            "delete": args.delete,
            "max_active": args.max_active,
            "progress": bar if bar is not None else False,
            "judge_url": args.judge_url,
            "judge_model": args.judge_model,
            "cache": not args.no_cache,
            **_credentials(args),
        }
        if scenario_file is not None:
            run = evaluate_async(scenario_file, personas=args.persona, **options)
        else:
            persona = args.persona[0] if args.persona else None
            run = replay_async(args.replay, persona=persona, goal=args.goal, **options)
        result = asyncio.run(run)
    except ConfigurationError as exc:
        errors.print(f"error: {cli_message(exc)}", markup=False, highlight=False)
        return EXIT_USAGE
    except LumeError as exc:
        errors.print(f"error: {cli_message(exc)}", markup=False, highlight=False)
        return EXIT_FAILED
    finally:
        if bar is not None:
            bar.stop()
    console.print(render_summary(result.summary))
    console.print(
        f"records: {out / TRANSCRIPTS_FILE}  summary: {out / SUMMARY_FILE}"
        f"  report: {out / REPORT_FILE}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return EXIT_PASSED if result.passed else EXIT_FAILED


def _usage_problem(args: argparse.Namespace) -> str:
    """What is wrong with how the command was called, "" when nothing."""
    if args.replay is None and args.scenarios is None:
        return "give a scenario file, or --replay RUN to send a recorded run's turns again"
    if args.replay is not None and args.scenarios is not None:
        return "give either a scenario file or --replay RUN, not both"
    if args.replay is None and args.goal is not None:
        return "--goal goes with --replay; in a scenario file, goals are a goals: section"
    if args.replay is not None and len(args.persona) > 1:
        return "--replay sends the turns to one persona: give --persona once"
    return ""


def _credentials(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "api_key": args.api_key,
        "email": args.email,
        "password": args.password,
        "token": args.token,
    }


class _ProgressBar:
    """A rich progress bar over the turns of the run, with the verdicts so far."""

    def __init__(self, console: Console) -> None:
        self._progress = RichProgress(
            TextColumn("[bold]eval"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task: TaskID | None = None

    def start(self) -> None:
        self._progress.start()

    def stop(self) -> None:
        self._progress.stop()

    def __call__(self, state: Progress) -> None:
        status = (
            f"[green]{state.passed} passed[/] [red]{state.failed} failed[/]"
            f" [yellow]{state.errors} errors[/] running {state.active}/{state.concurrency}"
        )
        if state.rate_limits:
            status += f" [yellow]{state.rate_limits} rate limits[/]"
        completed = state.turns_done + state.skipped
        if self._task is None:
            self._task = self._progress.add_task(
                "eval", total=state.turns_total, completed=completed, status=status
            )
        else:
            self._progress.update(self._task, completed=completed, status=status)
