"""``evaluate`` and ``evaluate_async``: run a scenario file and get an :class:`EvaluationResult`, in scripts and notebooks.

``evaluate`` is synchronous: in a script it runs its own event loop, in a notebook cell
(where the kernel's loop is already running) it nests on that loop with nest_asyncio.
In a notebook it shows a live progress line that updates while the run goes on.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lume_widget._loop import run_blocking
from lume_widget.entry import START_BACKEND
from lume_widget.errors import ConfigurationError
from lume_widget.evaluation.chatmodel import CACHE_DIR_NAME, ChatModel, ModelCache, safe_url
from lume_widget.evaluation.html_report import write_report
from lume_widget.evaluation.judge import Judge, resolve_endpoints
from lume_widget.evaluation.options import ReplayKey
from lume_widget.evaluation.records import TRANSCRIPTS_FILE, TurnRecord
from lume_widget.evaluation.report import summarize, write_summary
from lume_widget.evaluation.result import EvaluationResult
from lume_widget.evaluation.runner import (
    MAX_ACTIVE_CONSULTATIONS,
    Cleanup,
    Progress,
    Runner,
    RunOptions,
)
from lume_widget.evaluation.scenarios import Conversation, ScenarioFile, load_scenarios
from lume_widget.evaluation.simulator import Simulator
from lume_widget.evaluation.watch import RateLimitWatch

if TYPE_CHECKING:
    from lume_widget.client import LumeClient

__all__ = ["default_out_dir", "evaluate", "evaluate_async", "planned_turns", "safe_url"]

logger = logging.getLogger(__name__)

ProgressArg = Callable[[Progress], None] | bool | None


def default_out_dir() -> Path:
    """``lume-eval/run-YYYYmmdd-HHMMSS`` under the current directory."""
    return Path("lume-eval") / datetime.now().strftime("run-%Y%m%d-%H%M%S")


async def evaluate_async(
    scenarios: str | Path | ScenarioFile,
    *,
    url: str | None = None,
    out: str | Path | None = None,
    concurrency: int = 4,
    repeat: int | None = None,
    personas: Sequence[str] = (),
    resume: bool = False,
    keep: bool = False,
    delete: bool = False,
    progress: ProgressArg = None,
    client: LumeClient | None = None,
    max_active: int = MAX_ACTIVE_CONSULTATIONS,
    api_key: str | None = None,
    email: str | None = None,
    password: str | None = None,
    token: str | None = None,
    judge_url: str | None = None,
    judge_model: str | None = None,
    cache: bool = True,
    model_transport: Any = None,
    replay_of: Mapping[tuple[str, str, int], ReplayKey] | None = None,
    **client_options: Any,
) -> EvaluationResult:
    """Run every conversation of a scenario file and return the result.

    ``url=None`` uses ``LUME_URL`` or else the embedded reference server. Records go to
    ``out/transcripts.jsonl`` as turns finish and the summary to ``out/summary.json``
    (``out`` defaults to ``lume-eval/run-<time>``). ``resume=True`` continues a run in
    ``out``, skipping conversations already complete. Consultations are completed as
    each conversation ends (``delete=True`` deletes them, ``keep=True`` leaves them
    active). ``progress`` is a callback, True for the notebook display, False for none;
    None picks the notebook display when running in a Jupyter kernel. A ``client``
    already connected is used as is and left open.

    Rubric checks and simulated users need a model: ``judge_url``/``judge_model`` win over
    ``$LUME_JUDGE_URL``/``$LUME_JUDGE_MODEL``, which win over the file's ``judge:`` block;
    the key comes from ``$LUME_JUDGE_API_KEY`` (else ``$OPENAI_API_KEY``). Judge answers
    are cached in ``.lume-judge-cache`` beside ``out`` (``cache=False`` asks afresh).
    ``model_transport`` is an httpx transport for those calls (a test seam). ``replay_of``
    is set by :func:`~lume_widget.evaluation.replayer.replay`: what each conversation replays.
    """
    scenario_file = scenarios if isinstance(scenarios, ScenarioFile) else load_scenarios(scenarios)
    out_dir = Path(out) if out is not None else default_out_dir()
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigurationError(
            f"--out {out_dir} is a file; give a directory for the run (it is created if missing)"
        )
    judge_endpoint, simulator_endpoint = resolve_endpoints(
        scenario_file, judge_url=judge_url, judge_model=judge_model
    )
    models: list[ChatModel] = []
    judge: Judge | None = None
    simulator: Simulator | None = None
    if judge_endpoint is not None:
        store = ModelCache(out_dir.resolve().parent / CACHE_DIR_NAME) if cache else None
        models.append(ChatModel(judge_endpoint, cache=store, transport=model_transport))
        judge = Judge(models[-1])
    if simulator_endpoint is not None:
        models.append(ChatModel(simulator_endpoint, transport=model_transport))
        simulator = Simulator(models[-1])
    cleanup: Cleanup = "keep" if keep else ("delete" if delete else "complete")
    display = _progress_callback(progress)
    options = RunOptions(
        out_dir=out_dir,
        concurrency=concurrency,
        repeat=repeat,
        personas=tuple(personas),
        resume=resume,
        cleanup=cleanup,
        max_active=max_active,
        progress=display,
        replay_of=dict(replay_of or {}),
    )
    owns_client = client is None
    watch: RateLimitWatch | None = None
    if client is None:
        from lume_widget.client import LumeClient

        watch = RateLimitWatch(client_options.pop("transport", None))
        client = await LumeClient.connect(
            url,
            api_key=api_key,
            email=email,
            password=password,
            token=token,
            transport=watch,
            start_backend=START_BACKEND,
            **client_options,
        )
    try:
        runner = Runner(client, scenario_file, options, judge=judge, simulator=simulator)
        if watch is not None:
            watch.listener = runner.observe_rate_limit
            runner.watching = True
        outcome = await runner.run()
        server_url = safe_url(getattr(client, "url", None))
    finally:
        for model in models:
            await model.aclose()
        if owns_client:
            await client.aclose()
    if isinstance(display, _NotebookProgress):
        display.finish()
    planned = planned_turns(outcome.conversations, outcome.records)
    summary = summarize(
        outcome.records,
        planned_turns=planned,
        run={
            "scenario_file": str(scenario_file.path) if scenario_file.path else None,
            "url": server_url,
            "started_at": outcome.started_at,
            "wall_s": round(outcome.wall_s, 4),
            "turns_this_run": outcome.turns_this_run,
            "concurrency": outcome.concurrency,
            "lowest_concurrency": outcome.lowest_concurrency,
            "final_concurrency": outcome.final_concurrency,
            "rate_limits": outcome.rate_limits,
            "resumed_conversations": outcome.resumed_conversations,
            "consultations_created": len(outcome.created),
            "cleanup": outcome.cleanup,
            "consultations_left_open": outcome.left_open,
            "notes": outcome.notes,
            "judge": _model_facts(judge.model if judge else None),
            "simulator": _model_facts(simulator.model if simulator else None),
        },
    )
    write_summary(out_dir, summary)
    write_report(out_dir, outcome.records, summary)
    logger.info("evaluation written to %s", out_dir / TRANSCRIPTS_FILE)
    return EvaluationResult(
        records=outcome.records, summary=summary, out_dir=out_dir, notes=outcome.notes
    )


def planned_turns(conversations: Sequence[Conversation], records: Sequence[TurnRecord]) -> int:
    """Turns the run meant to ask: each script's length; each simulated conversation's actual turns."""
    counted: dict[tuple[str, str, int], int] = {}
    for record in records:
        counted[record.key] = counted.get(record.key, 0) + 1
    total = 0
    for conversation in conversations:
        if conversation.scenario.simulated_user is None:
            total += conversation.scenario.planned_turns
        else:
            total += counted.get(conversation.key, conversation.scenario.planned_turns)
    return total


def _model_facts(model: ChatModel | None) -> dict[str, Any] | None:
    if model is None:
        return None
    return {
        "url": safe_url(model.endpoint.url),
        "model": model.endpoint.model,
        "calls": model.calls,
        "cache_hits": model.cache_hits,
        "cached": model.cache is not None,
    }


def evaluate(scenarios: str | Path | ScenarioFile, **options: Any) -> EvaluationResult:
    """Synchronous :func:`evaluate_async`: works in scripts and in a running notebook cell."""
    return run_blocking(evaluate_async(scenarios, **options))


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _progress_callback(progress: ProgressArg) -> Callable[[Progress], None] | None:
    if callable(progress):
        return progress
    if progress is True or (progress is None and _in_kernel()):
        return _NotebookProgress()
    return None


class _NotebookProgress:
    """A progress bar in a notebook output, updated in place at most ten times a second."""

    def __init__(self, interval_s: float = 0.1) -> None:
        from IPython.display import HTML, display

        self._html = HTML
        self._handle = display(HTML(self._render(None)), display_id=True)  # type: ignore[no-untyped-call]
        self._interval_s = interval_s
        self._last = 0.0
        self._state: Progress | None = None

    def __call__(self, progress: Progress) -> None:
        self._state = progress
        now = time.monotonic()
        if now - self._last >= self._interval_s or progress.turns_done >= progress.turns_total:
            self._last = now
            self._update()

    def finish(self) -> None:
        self._update()

    def _update(self) -> None:
        if self._handle is not None:
            self._handle.update(self._html(self._render(self._state)))  # type: ignore[no-untyped-call]

    @staticmethod
    def _render(state: Progress | None) -> str:
        if state is None:
            return "<div>starting the evaluation...</div>"
        total = max(state.turns_total, 1)
        done = state.turns_done + state.skipped
        percent = min(100.0, 100.0 * done / total)
        text = (
            f"{state.conversations_done}/{state.conversations_total} conversations,"
            f" {state.turns_done}/{state.turns_total} turns: {state.passed} passed,"
            f" {state.failed} failed, {state.errors} errors"
            f" &middot; running {state.active} (concurrency {state.concurrency})"
        )
        if state.rate_limits:
            text += f" &middot; {state.rate_limits} rate limits"
        last = ""
        if state.last is not None:
            last = html.escape(
                f"last: {state.last.scenario} [{state.last.persona}] turn {state.last.turn}"
            )
        return (
            '<div style="font-family: system-ui, sans-serif; font-size: 13px">'
            f'<progress value="{percent:.1f}" max="100" style="width: 320px"></progress> '
            f"{percent:.0f}% &middot; {text}<br><small>{last}</small></div>"
        )
