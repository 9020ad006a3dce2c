"""Replay: the recorded user turns of every conversation of a run, sent again as a new run.

``lume-widget eval --replay RUN_OR_TRANSCRIPTS [--persona P] [--goal ID] [--url URL]`` and
:func:`replay` read a run's ``transcripts.jsonl``, turn each recorded conversation into a
scripted scenario with the same user messages (simulated ones included, as they were
written), and run them, to the same backend or another one, with the same persona or
another, the same goal or another. Every record of the new run says which recorded
conversation it replays (``replay_of``), so ``lume-widget compare OLD NEW`` pairs them
even when the persona changed.

The checks come from the original scenario file when the run's ``summary.json`` names one
that still loads (each turn keeps its expectations, the judge settings come along);
otherwise the replay only checks that every turn gets a reply. Goals come from that file
too, else from the backend (the recorded ``goal_id``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lume_widget.core.wire import unknown_persona
from lume_widget.defaults import PERSONAS
from lume_widget.entry import START_BACKEND
from lume_widget.errors import ConfigurationError, LumeError
from lume_widget.evaluation.compare import load_run
from lume_widget.evaluation.options import ReplayKey
from lume_widget.evaluation.records import SUMMARY_FILE, TRANSCRIPTS_FILE, TurnRecord
from lume_widget.evaluation.scenario_writer import goal_fields
from lume_widget.evaluation.scenarios import (
    Defaults,
    GoalSpec,
    Scenario,
    ScenarioFile,
    ScenarioFileError,
    Turn,
    load_scenarios,
)

if TYPE_CHECKING:
    from lume_widget.client import LumeClient
    from lume_widget.evaluation.result import EvaluationResult

__all__ = ["ReplayPlan", "plan_replay", "replay", "replay_async"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayPlan:
    """What a replay runs: a scenario file made of the recorded turns, and what each replays."""

    scenarios: ScenarioFile
    replay_of: Mapping[tuple[str, str, int], ReplayKey]
    source: Path
    original_file: Path | None
    """The original scenario file whose checks the replay keeps, None when none loads."""
    goal_ids: Mapping[str, str]
    """Recorded goal names with no spec in a file, by the goal's id on the backend."""


def _conversations(records: Sequence[TurnRecord]) -> dict[ReplayKey, list[TurnRecord]]:
    grouped: dict[ReplayKey, dict[int, TurnRecord]] = {}
    for record in records:
        key = (record.scenario, record.persona, record.goal, record.repeat)
        grouped.setdefault(key, {})[record.turn] = record  # a resumed turn: the latest wins
    return {key: [turns[i] for i in sorted(turns)] for key, turns in grouped.items()}


def _original_file(source: Path) -> ScenarioFile | None:
    run_dir = source if source.is_dir() else source.parent
    try:
        summary = json.loads((run_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    named = (summary.get("run") or {}).get("scenario_file") if isinstance(summary, dict) else None
    if not isinstance(named, str) or not named or named.startswith("<"):
        return None
    for candidate in (Path(named), run_dir / named, run_dir.parent / Path(named).name):
        if candidate.is_file():
            try:
                return load_scenarios(candidate)
            except ScenarioFileError as exc:
                logger.warning("the run's scenario file %s no longer loads: %s", candidate, exc)
                return None
    return None


def plan_replay(
    source: str | Path,
    *,
    persona: str | None = None,
    goal: str | Mapping[str, Any] | None = None,
) -> ReplayPlan:
    """The scenario file a replay of ``source`` (a run directory or its transcripts) runs.

    ``persona`` sends every conversation to that persona instead; ``goal`` ties them to
    another goal: the id of a goal on the backend, or a mapping of goal fields (as in a
    ``goals:`` entry). Raises ConfigurationError for a source that is not a run.
    """
    place = Path(source)
    if persona is not None and persona not in PERSONAS:
        raise ConfigurationError(f"--persona: {unknown_persona(persona)}")
    records = load_run(place)
    original = _original_file(place)
    conversations = _conversations(records)
    per_scenario: dict[str, int] = {}
    for scenario_name, *_ in conversations:
        per_scenario[scenario_name] = per_scenario.get(scenario_name, 0) + 1
    goals: dict[str, GoalSpec] = {}
    goal_ids: dict[str, str] = {}
    override_goal: str | None = None
    if isinstance(goal, Mapping):
        override_goal = "replay-goal"
        goals[override_goal] = GoalSpec.model_validate(dict(goal))
    elif isinstance(goal, str) and goal:
        override_goal = "replay-goal"
        goal_ids[override_goal] = goal
    scenarios: list[Scenario] = []
    replay_of: dict[tuple[str, str, int], ReplayKey] = {}
    conversation_objects = {c.key: c for c in original.conversations()} if original else {}
    for key, turns in conversations.items():
        scenario_name, recorded_persona, goal_name, repeat = key
        name = scenario_name
        if per_scenario[scenario_name] > 1:
            name = f"{scenario_name} [{recorded_persona} #{repeat}]"
        target = persona or recorded_persona
        expects = conversation_objects.get((scenario_name, recorded_persona, repeat))
        # the answer to an initial message is turn 0: the replay creates its consultation
        # with that message again, and its script is the turns after it
        opening = next((r.say for r in turns if r.initial and r.say.strip()), None)
        script = [
            Turn(
                say=record.say,
                expect=expects.expect_for(index) if expects is not None else None,
            )
            for index, record in enumerate(r for r in turns if not r.initial)
            if record.say.strip()
        ]
        if not script:
            continue
        goal_ref = override_goal
        if goal_ref is None and goal_name is not None:
            goal_ref = goal_name
            if original is not None and goal_name in original.goals:
                goals[goal_name] = original.goals[goal_name]
            elif turns[0].goal_id:
                goal_ids[goal_name] = turns[0].goal_id
            else:
                goal_ref = None
        scenarios.append(
            Scenario(
                name=name,
                persona=target,  # type: ignore[arg-type]
                goal=goal_ref,
                repeat=1,
                tier=expects.tier if expects is not None else None,  # type: ignore[arg-type]
                initial_message=opening,
                turns=script,
                conversation_expect=expects.conversation_expect if expects else None,
            )
        )
        replay_of[(name, target, 0)] = key
    if not scenarios:
        raise ConfigurationError(
            f"{place} holds no user message to replay; give the --out directory of a run"
            f" or its {TRANSCRIPTS_FILE}."
        )
    file = ScenarioFile.model_construct(
        defaults=original.defaults if original else Defaults(),
        judge=original.judge if original else None,
        simulator=original.simulator if original else None,
        goals=goals,
        scenarios=scenarios,
        path=Path(f"replay of {place}"),
    )
    return ReplayPlan(
        scenarios=file,
        replay_of=replay_of,
        source=place,
        original_file=original.path if original else None,
        goal_ids=goal_ids,
    )


async def _resolve_goals(plan: ReplayPlan, client: LumeClient) -> ScenarioFile:
    """Goals recorded only by id become ``goals:`` entries from the backend's copy."""
    if not plan.goal_ids:
        return plan.scenarios
    goals = dict(plan.scenarios.goals)
    for name, goal_id in plan.goal_ids.items():
        try:
            found = await client.get_goal(goal_id)
        except LumeError as exc:
            raise ConfigurationError(
                f"The replayed goal {name!r} (id {goal_id}) cannot be read from the backend:"
                f" {exc}. Replay against the backend that has it, or pass another goal."
            ) from exc
        goals[name] = GoalSpec.model_validate(goal_fields(found))
    return plan.scenarios.model_copy(update={"goals": goals})


async def replay_async(
    source: str | Path,
    *,
    persona: str | None = None,
    goal: str | Mapping[str, Any] | None = None,
    url: str | None = None,
    out: str | Path | None = None,
    client: LumeClient | None = None,
    api_key: str | None = None,
    email: str | None = None,
    password: str | None = None,
    token: str | None = None,
    **options: Any,
) -> EvaluationResult:
    """Send the recorded user turns of every conversation in ``source`` again; a new run.

    ``source`` is a run directory or its ``transcripts.jsonl``. ``persona``, ``goal`` (a
    goal id or goal fields) and ``url`` (another backend) change what they are sent to.
    The other ``options`` are :func:`~lume_widget.evaluation.evaluate_async`'s. The result's
    run directory compares with the original: ``result.compare(source)``.
    """
    from lume_widget.client import LumeClient
    from lume_widget.evaluation.api import evaluate_async

    plan = plan_replay(source, persona=persona, goal=goal)
    owns = client is None
    if client is None:
        client = await LumeClient.connect(
            url,
            api_key=api_key,
            email=email,
            password=password,
            token=token,
            start_backend=START_BACKEND,
        )
    try:
        scenarios = await _resolve_goals(plan, client)
        return await evaluate_async(
            scenarios, client=client, out=out, replay_of=plan.replay_of, **options
        )
    finally:
        if owns:
            await client.aclose()


def replay(source: str | Path, **options: Any) -> EvaluationResult:
    """Blocking form of :func:`replay_async` (scripts and notebook cells)."""
    from lume_widget._loop import run_blocking

    result: EvaluationResult = run_blocking(replay_async(source, **options))
    return result
