"""Scripted persona evaluations: batches of conversations across personas and goals, checked and timed.

- :func:`evaluate` / :func:`evaluate_async`: run a scenario file, get an :class:`EvaluationResult`.
- :func:`load_scenarios`: read and validate a scenario file (:class:`ScenarioFileError` names
  the line and the problem).
- :class:`TurnRecord`: one turn as written to ``transcripts.jsonl``.
- ``lume-widget eval``: the same from the command line (:mod:`lume_widget.evaluation.cli`).
"""

from __future__ import annotations

from lume_widget.evaluation.api import evaluate, evaluate_async
from lume_widget.evaluation.records import TurnRecord
from lume_widget.evaluation.result import EvaluationResult
from lume_widget.evaluation.scenarios import ScenarioFile, ScenarioFileError, load_scenarios
from lume_widget.evaluation.transcript import TranscriptView

__all__ = [
    "EvaluationResult",
    "ScenarioFile",
    "ScenarioFileError",
    "TranscriptView",
    "TurnRecord",
    "evaluate",
    "evaluate_async",
    "load_scenarios",
]
