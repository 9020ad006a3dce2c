"""The judge: a model that scores a reply (or a whole conversation) against a rubric, and where its endpoint comes from.

The judge sees the persona, the goal (title and target) when there is one, the
conversation up to the judged reply and the rubric, and is asked for a JSON object
``{"score": <0..1>, "reason": "..."}``. Its answer is read tolerantly (code fences, text
around the object, a score written as a string); an answer that still cannot be read is
an *error* of that check, never a pass.

Endpoints: ``--judge-url``/``--judge-model`` win over ``$LUME_JUDGE_URL``/``$LUME_JUDGE_MODEL``,
which win over the file's ``judge:`` block. The key comes only from ``$LUME_JUDGE_API_KEY``,
else ``$OPENAI_API_KEY``. The simulator takes the file's ``simulator:`` block, else the
judge's endpoint; its key ``$LUME_SIMULATOR_API_KEY``, else the judge's.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lume_widget.errors import ConfigurationError
from lume_widget.evaluation.chatmodel import ChatModel, ModelCallError, ModelEndpoint
from lume_widget.evaluation.scenarios import GoalSpec, ModelSettings, Rubric, ScenarioFile

__all__ = [
    "ENV_JUDGE_KEY",
    "ENV_JUDGE_MODEL",
    "ENV_JUDGE_URL",
    "ENV_SIMULATOR_KEY",
    "Exchange",
    "Judge",
    "Verdict",
    "judge_messages",
    "parse_judgement",
    "resolve_endpoints",
]

ENV_JUDGE_URL = "LUME_JUDGE_URL"
ENV_JUDGE_MODEL = "LUME_JUDGE_MODEL"
ENV_JUDGE_KEY = "LUME_JUDGE_API_KEY"
ENV_OPENAI_KEY = "OPENAI_API_KEY"
ENV_SIMULATOR_KEY = "LUME_SIMULATOR_API_KEY"

CheckKind = Literal["rubric", "conversation rubric", "stop_when"]

_SYSTEM = (
    "You are a careful, impartial evaluator of an AI wellness coach. You are given who the"
    " coach is, the user's goal when there is one, a conversation, and a criterion. Decide how"
    " well the criterion is met and answer with only a JSON object, no other text:"
    ' {"score": <a number from 0 to 1, 1 = fully met>, "reason": "<one or two sentences>"}'
)

_TASKS: Mapping[CheckKind, str] = {
    "rubric": "Judge the coach's LAST reply above (the earlier messages are context).",
    "conversation rubric": "Judge the WHOLE conversation above, every coach reply in it.",
    "stop_when": (
        "Judge whether this has happened by the end of the conversation above:"
        " score 1 if it has, 0 if it has not."
    ),
}


@dataclass(frozen=True)
class Exchange:
    """One message of a conversation as the judge and simulator see it."""

    role: Literal["user", "coach"]
    text: str


def judge_messages(
    *,
    persona: str,
    goal: GoalSpec | None,
    conversation: Sequence[Exchange],
    criteria: str,
    kind: CheckKind,
) -> list[dict[str, str]]:
    """The chat messages sent to the judge (everything it needs is in them)."""
    lines = [f"The coach's persona: {persona.replace('_', ' ')}."]
    if goal is not None:
        lines.append(f"The user's goal: {describe_goal(goal)}.")
    lines.append("")
    lines.append("The conversation:")
    for exchange in conversation:
        speaker = "User" if exchange.role == "user" else "Coach"
        lines.append(f"{speaker}: {exchange.text}")
    lines.append("")
    lines.append(_TASKS[kind])
    lines.append(f"Criterion: {criteria}")
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


def describe_goal(goal: GoalSpec) -> str:
    """``title (from 180 to 165 lbs) by 2026-06-01``: the goal as one phrase for a model's prompt."""
    text = goal.title
    if goal.target_value is not None:
        unit = f" {goal.target_unit}" if goal.target_unit else ""
        start = f"from {goal.current_value:g} " if goal.current_value is not None else ""
        text += f" ({start}to {goal.target_value:g}{unit})"
    if goal.target_date is not None:
        text += f" by {goal.target_date.isoformat()}"
    return text


def parse_judgement(text: str) -> tuple[float, str]:
    """(score, reason) from the judge's answer; raises ValueError saying what was wrong with it."""
    candidates: list[Any] = []
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`").removeprefix("json").strip()
    try:
        candidates.append(json.loads(stripped))
    except ValueError:
        decoder = json.JSONDecoder()
        for index, char in enumerate(stripped):
            if char != "{":
                continue
            try:
                value, _ = decoder.raw_decode(stripped, index)
            except ValueError:
                continue
            candidates.append(value)
            if isinstance(value, dict) and "score" in value:
                break
    found = next((c for c in candidates if isinstance(c, dict) and "score" in c), None)
    if found is None:
        raise ValueError(f"no JSON object with a score in the judge's answer {_short(text)!r}")
    raw_score = found["score"]
    score: float | None = None
    if isinstance(raw_score, bool):
        score = 1.0 if raw_score else 0.0
    elif isinstance(raw_score, int | float):
        score = float(raw_score)
    elif isinstance(raw_score, str):
        try:
            score = float(raw_score.strip().rstrip("%")) / (100 if "%" in raw_score else 1)
        except ValueError:
            score = None
    if score is None or math.isnan(score):
        raise ValueError(f"the judge's score {raw_score!r} is not a number")
    if not 0.0 <= score <= 1.0:
        raise ValueError(f"the judge's score {score:g} is outside 0..1")
    reason = found.get("reason", "")
    return score, reason if isinstance(reason, str) else json.dumps(reason)


def _short(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@dataclass
class Verdict:
    """One judged check: the score and reason, or the error that kept it from being judged."""

    check: CheckKind
    criteria: str
    threshold: float
    score: float | None = None
    reason: str = ""
    model: str = ""
    usage: dict[str, int] = field(default_factory=dict)
    cached: bool = False
    error: str | None = None

    @property
    def passed(self) -> bool | None:
        """True at or above the threshold, False under it, None when the check errored."""
        if self.error is not None or self.score is None:
            return None
        return self.score >= self.threshold

    @property
    def tokens(self) -> int:
        """Tokens this verdict cost (none when it came from the cache)."""
        return 0 if self.cached else int(self.usage.get("total_tokens", 0))

    def failure(self) -> str | None:
        """The failure message (quoting the judge's reason), or None when it passed or errored."""
        if self.passed is not False:
            return None
        assert self.score is not None
        prefix = "conversation rubric" if self.check == "conversation rubric" else "rubric"
        return (
            f"{prefix}: scored {self.score:.2f}, under {self.threshold:g}, on"
            f" {_short(self.criteria, 80)!r}; the judge says: {self.reason}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "criteria": self.criteria,
            "threshold": self.threshold,
            "score": self.score,
            "passed": self.passed,
            "reason": self.reason,
            "model": self.model,
            "usage": dict(self.usage),
            "cached": self.cached,
            "error": self.error,
        }


class Judge:
    """Scores replies and conversations with one :class:`ChatModel`."""

    def __init__(self, model: ChatModel) -> None:
        self.model = model

    def __repr__(self) -> str:
        return f"Judge({self.model!r})"

    async def judge(
        self,
        rubric: Rubric,
        *,
        persona: str,
        goal: GoalSpec | None,
        conversation: Sequence[Exchange],
        kind: CheckKind = "rubric",
    ) -> Verdict:
        """The verdict on ``rubric``; never raises for a bad or missing answer (that is ``error``)."""
        verdict = Verdict(
            check=kind,
            criteria=rubric.criteria,
            threshold=rubric.threshold,
            model=self.model.endpoint.model,
        )
        messages = judge_messages(
            persona=persona,
            goal=goal,
            conversation=conversation,
            criteria=rubric.criteria,
            kind=kind,
        )
        try:
            answer = await self.model.complete(messages)
        except ModelCallError as exc:
            verdict.error = f"{kind}: the judge could not be asked: {exc}"
            return verdict
        verdict.model = answer.model
        verdict.usage = dict(answer.usage)
        verdict.cached = answer.cached
        try:
            verdict.score, verdict.reason = parse_judgement(answer.text)
        except ValueError as exc:
            verdict.error = f"{kind}: the judge's answer could not be read ({exc}); not a pass"
        return verdict


def _pick(flag: str | None, variable: str, env: Mapping[str, str], file: str | None) -> str | None:
    return flag or env.get(variable) or file or None


def resolve_endpoints(
    scenarios: ScenarioFile,
    *,
    judge_url: str | None = None,
    judge_model: str | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[ModelEndpoint | None, ModelEndpoint | None]:
    """(judge, simulator) endpoints for this file, or None where the file needs none.

    Raises :class:`ConfigurationError` naming what to set when a needed one is incomplete.
    """
    env = os.environ if env is None else env
    file_judge = scenarios.judge or ModelSettings()
    url = _pick(judge_url, ENV_JUDGE_URL, env, file_judge.url)
    model = _pick(judge_model, ENV_JUDGE_MODEL, env, file_judge.model)
    judge_key = env.get(ENV_JUDGE_KEY) or env.get(ENV_OPENAI_KEY) or None
    judge: ModelEndpoint | None = None
    if scenarios.needs_judge() or scenarios.needs_simulator():
        if url and model:
            judge = _endpoint(url, model, judge_key, file_judge)
        elif scenarios.needs_judge():
            raise ConfigurationError(
                "this scenario file has rubric checks, which need a judge model; give its"
                f" endpoint with --judge-url and --judge-model, ${ENV_JUDGE_URL} and"
                f" ${ENV_JUDGE_MODEL}, or a 'judge: {{url, model}}' block in the file"
                f" (the key from ${ENV_JUDGE_KEY})"
            )
    simulator: ModelEndpoint | None = None
    if scenarios.needs_simulator():
        own = scenarios.simulator or ModelSettings()
        sim_url = own.url or (judge.url if judge else None)
        sim_model = own.model or (judge.model if judge else None)
        if not (sim_url and sim_model):
            raise ConfigurationError(
                "this scenario file has simulated users, which need a model to play the user;"
                " give a 'simulator: {url, model}' block, or a judge (--judge-url and"
                f" --judge-model, ${ENV_JUDGE_URL} and ${ENV_JUDGE_MODEL}) for it to share"
            )
        sim_key = env.get(ENV_SIMULATOR_KEY) or judge_key
        simulator = _endpoint(
            sim_url, sim_model, sim_key, own if scenarios.simulator else file_judge
        )
    return judge, simulator


def _endpoint(url: str, model: str, key: str | None, settings: ModelSettings) -> ModelEndpoint:
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(
            f"the model URL {url!r} is not an http:// or https:// URL; give one such as"
            " https://api.openai.com/v1"
        )
    return ModelEndpoint(
        url=url,
        model=model,
        api_key=key,
        timeout_s=settings.timeout_s or 60.0,
        concurrency=settings.concurrency or 4,
    )
