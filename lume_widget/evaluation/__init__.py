"""Scripted persona evaluations: batches of conversations across personas and goals, checked and timed.

- :func:`evaluate` / :func:`evaluate_async`: run a scenario file, get an :class:`EvaluationResult`.
- :func:`load_scenarios`: read and validate a scenario file (:class:`ScenarioFileError` names
  the line and the problem).
- :class:`TurnRecord`: one turn as written to ``transcripts.jsonl``.
- ``rubric`` checks scored by a judge model and ``simulated_user`` conversations
  (:mod:`.judge`, :mod:`.simulator`), any OpenAI-compatible endpoint.
- :func:`compare_runs` / :meth:`EvaluationResult.compare`: regressions and fixes between runs.
- ``report.html`` in every run directory (:mod:`.html_report`).
- :func:`replay` / :func:`replay_async`: a run's recorded user turns sent again, as a new run.
- ``lume-widget eval`` (``--replay RUN``) and ``lume-widget compare``: the same from the
  command line.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lume_widget.evaluation.api import evaluate, evaluate_async
    from lume_widget.evaluation.compare import Comparison, compare_runs
    from lume_widget.evaluation.records import TurnRecord
    from lume_widget.evaluation.replayer import replay, replay_async
    from lume_widget.evaluation.result import EvaluationResult
    from lume_widget.evaluation.scenarios import ScenarioFile, ScenarioFileError, load_scenarios
    from lume_widget.evaluation.transcript import TranscriptView

# Loaded on first use, so that the panel (which writes scenarios) and the client do not load
# the runner, the judge, the scenario models and rich's tables with ``lume_widget.evaluation``.
_LAZY: dict[str, str] = {
    "Comparison": "lume_widget.evaluation.compare",
    "EvaluationResult": "lume_widget.evaluation.result",
    "ScenarioFile": "lume_widget.evaluation.scenarios",
    "ScenarioFileError": "lume_widget.evaluation.scenarios",
    "TranscriptView": "lume_widget.evaluation.transcript",
    "TurnRecord": "lume_widget.evaluation.records",
    "compare_runs": "lume_widget.evaluation.compare",
    "evaluate": "lume_widget.evaluation.api",
    "evaluate_async": "lume_widget.evaluation.api",
    "load_scenarios": "lume_widget.evaluation.scenarios",
    "replay": "lume_widget.evaluation.replayer",
    "replay_async": "lume_widget.evaluation.replayer",
}

__all__ = [
    "Comparison",
    "EvaluationResult",
    "ScenarioFile",
    "ScenarioFileError",
    "TranscriptView",
    "TurnRecord",
    "compare_runs",
    "evaluate",
    "evaluate_async",
    "load_scenarios",
    "replay",
    "replay_async",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'lume_widget.evaluation' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
