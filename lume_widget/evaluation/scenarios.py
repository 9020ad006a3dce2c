"""Scenario files: load a YAML script of persona conversations and validate it, naming file, line and column.

A scenario file has three sections::

    defaults:            # optional; applies to every scenario
      persona: general_wellness
      repeat: 1
      expect: {max_ttft_s: 10}
    goals:               # optional; created on the server once per run
      summer: {title: "Lose 15 pounds", goal_type: weight, current_value: 5, target_value: 15,
               target_unit: lbs, target_date: 2026-06-01}
    scenarios:
      - name: goal-aware-opening
        persona: wellness_specialist     # or a list: one conversation per persona
        goal: summer
        repeat: 3
        turns:
          - say: "Hi!"
            expect: {icontains_any: ["summer", "15 pounds"]}

Two optional sections name models: ``judge: {url, model}`` (any OpenAI-compatible
chat-completions endpoint) grades ``rubric`` checks, and ``simulator: {url, model}``
(the judge's when absent) plays the user of scenarios with ``simulated_user`` instead of
``turns``. API keys never go in the file; they come from the environment.

Validation is pydantic v2; each error is mapped back to the YAML node it concerns, so a
problem reads ``scenarios.yaml:14:13: scenarios[0].turns[0].expect.regex: ...``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from lume_widget.defaults import DEFAULT_PERSONA, MAX_MESSAGE_CHARS, PERSONAS
from lume_widget.evaluation.expectations import resolve_python_check
from lume_widget.evaluation.yaml_source import (
    MAX_FILE_BYTES,
    MAX_YAML_NODES,
    SECRET_KEYS,
    Problem,
    ScenarioFileError,
    compose,
    dotted,
    duplicate_keys,
    is_union_tag,
    node_for,
    problem_at,
    read_source,
    secrets_in,
    walk,
)

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_YAML_NODES",
    "SECRET_KEYS",
    "Conversation",
    "ConversationExpect",
    "Defaults",
    "Expect",
    "GoalSpec",
    "ModelSettings",
    "Problem",
    "Rubric",
    "Scenario",
    "ScenarioFile",
    "ScenarioFileError",
    "SimulatedUser",
    "Turn",
    "load_scenarios",
    "parse_scenarios",
]

Persona = Literal["nutritionist", "fitness_coach", "wellness_specialist", "general_wellness"]
TierName = Literal["live", "rest", "legacy"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_python(value: str | None, info: ValidationInfo) -> str | None:
    if value is not None:
        resolve_python_check(value, (info.context or {}).get("base_dir"))
    return value


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _check_message(value: str) -> str:
    if not value.strip():
        raise ValueError("a message cannot be blank")
    if len(value.strip()) > MAX_MESSAGE_CHARS:
        raise ValueError(f"a message holds at most {MAX_MESSAGE_CHARS} characters after trimming")
    return value


class Rubric(_Strict):
    """A criterion a judge model scores from 0 to 1; the check passes at ``threshold`` or above."""

    criteria: str = Field(min_length=1)
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)

    @field_validator("criteria")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a rubric cannot be blank; say what a good reply does")
        return value


def _rubric_short_form(value: Any) -> Any:
    return {"criteria": value} if isinstance(value, str) else value


class Expect(_Strict):
    """Checks on one turn's reply; every field set must pass. ``i`` prefixes ignore case."""

    contains: list[str] | None = None
    icontains: list[str] | None = None
    contains_any: list[str] | None = None
    icontains_any: list[str] | None = None
    contains_all: list[str] | None = None
    icontains_all: list[str] | None = None
    not_contains: list[str] | None = None
    not_icontains: list[str] | None = None
    regex: str | None = None
    not_regex: str | None = None
    min_chars: int | None = Field(default=None, ge=0)
    max_chars: int | None = Field(default=None, ge=0)
    max_ttft_s: float | None = Field(default=None, gt=0)
    max_duration_s: float | None = Field(default=None, gt=0)
    max_chunk_gap_s: float | None = Field(default=None, gt=0)
    tier: TierName | None = None
    python: str | None = None
    rubric: Rubric | None = None

    @field_validator("rubric", mode="before")
    @classmethod
    def _short_rubric(cls, value: Any) -> Any:
        return _rubric_short_form(value)

    @field_validator(
        "contains",
        "icontains",
        "contains_any",
        "icontains_any",
        "contains_all",
        "icontains_all",
        "not_contains",
        "not_icontains",
        mode="before",
    )
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        value = _as_list(value)
        if isinstance(value, list) and not value:
            raise ValueError("give at least one string")
        return value

    @field_validator("regex", "not_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return value

    @field_validator("python")
    @classmethod
    def _importable(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _check_python(value, info)

    def merged_over(self, base: Expect | None) -> Expect:
        """These checks, with any check not set here taken from ``base``."""
        if base is None:
            return self
        data = {name: getattr(base, name) for name in base.model_fields_set}
        data.update({name: getattr(self, name) for name in self.model_fields_set})
        return Expect.model_construct(**{k: v for k, v in data.items() if v is not None})

    def is_empty(self) -> bool:
        return not self.model_dump(exclude_none=True)

    def checks(self) -> dict[str, Any]:
        """The checks judged without a model, by kind (``rubric`` is left to the judge)."""
        return {
            name: getattr(self, name)
            for name in type(self).model_fields
            if name != "rubric" and getattr(self, name) is not None
        }


class ConversationExpect(_Strict):
    """Checks on a whole conversation, judged after its last turn."""

    max_tier_changes: int | None = Field(default=None, ge=0)
    max_reconnects: int | None = Field(default=None, ge=0)
    tier: TierName | None = None
    max_total_duration_s: float | None = Field(default=None, gt=0)
    python: str | None = None
    rubric: Rubric | None = None

    @field_validator("rubric", mode="before")
    @classmethod
    def _short_rubric(cls, value: Any) -> Any:
        return _rubric_short_form(value)

    @field_validator("python")
    @classmethod
    def _importable(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _check_python(value, info)

    def checks(self) -> dict[str, Any]:
        """The checks judged without a model, by kind (``rubric`` is left to the judge)."""
        return {
            name: getattr(self, name)
            for name in type(self).model_fields
            if name != "rubric" and getattr(self, name) is not None
        }


class Turn(_Strict):
    """One user message and the checks on the reply to it."""

    say: str = Field(min_length=1)
    expect: Expect | None = None

    @field_validator("say")
    @classmethod
    def _fits(cls, value: str) -> str:
        return _check_message(value)


class SimulatedUser(_Strict):
    """The user's side played by a model: who it is, how it opens, when the conversation ends."""

    persona: str = Field(min_length=1)
    opening: str | None = None
    max_turns: int = Field(default=6, ge=1, le=50)
    stop_when: str | None = Field(default=None, min_length=1)

    @field_validator("opening")
    @classmethod
    def _fits(cls, value: str | None) -> str | None:
        return None if value is None else _check_message(value)


class ModelSettings(_Strict):
    """An OpenAI-compatible chat-completions endpoint (``url`` ending in ``/v1``) and model name.

    The key is read from the environment only; ``timeout_s`` bounds one call and
    ``concurrency`` the calls at once.
    """

    url: str | None = Field(default=None, min_length=1)
    model: str | None = Field(default=None, min_length=1)
    timeout_s: float | None = Field(default=None, gt=0)
    concurrency: int | None = Field(default=None, ge=1, le=64)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(
                "expected an http:// or https:// URL, such as https://api.openai.com/v1"
            )
        return value


class GoalSpec(_Strict):
    """A goal to create on the server (or reuse when one with the same title and target exists).

    The fields are the goals API's (PROTOCOL B9.2); ``current_value`` is recorded as the
    goal's progress right after it is created, so replies can speak of how far along it is.
    """

    title: str = Field(min_length=1, max_length=200)
    goal_type: Literal["weight", "activity", "nutrition", "custom"] = "custom"
    description: str | None = Field(default=None, max_length=1000)
    current_value: float | None = Field(default=None, ge=0)
    target_value: float = Field(ge=0)
    target_unit: str = Field(min_length=1, max_length=50)
    start_date: date | None = None
    target_date: date | None = None
    is_recurring: bool = False
    recurrence_pattern: Literal["daily", "weekly", "monthly"] | None = None
    recurrence_days: list[Annotated[int, Field(ge=0, le=6)]] | None = None
    recurrence_end_date: date | None = None

    def create_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``LumeClient.create_goal`` for this goal."""
        return self.model_dump()


class Defaults(_Strict):
    """Values every scenario inherits unless it sets its own."""

    persona: Persona | list[Persona] = DEFAULT_PERSONA  # type: ignore[assignment]
    repeat: int = Field(default=1, ge=1)
    tier: TierName | None = None
    expect: Expect | None = None
    conversation_expect: ConversationExpect | None = None

    @field_validator("persona", mode="before")
    @classmethod
    def _personas(cls, value: Any) -> Any:
        return _check_personas(value)


def _check_personas(value: Any) -> Any:
    if value == "all":
        return list(PERSONAS)
    names = value if isinstance(value, list) else [value]
    if not names:
        raise ValueError("give at least one persona")
    for name in names:
        if name not in PERSONAS:
            raise ValueError(
                f"unknown persona {name!r}; expected one of {', '.join(PERSONAS)} (or 'all')"
            )
    return value


class Scenario(_Strict):
    """A scripted conversation: its turns run in order on one consultation."""

    name: str = Field(min_length=1)
    persona: Persona | list[Persona] | None = None
    goal: str | None = None
    repeat: int | None = Field(default=None, ge=1)
    tier: TierName | None = None
    initial_message: str | None = Field(default=None, min_length=1, max_length=MAX_MESSAGE_CHARS)
    quick_action: str | None = Field(default=None, min_length=1)
    expect: Expect | None = None
    conversation_expect: ConversationExpect | None = None
    turns: list[Turn] | None = Field(default=None, min_length=1)
    simulated_user: SimulatedUser | None = None

    @field_validator("persona", mode="before")
    @classmethod
    def _personas(cls, value: Any) -> Any:
        return _check_personas(value)

    @model_validator(mode="after")
    def _one_script(self) -> Scenario:
        if self.turns is None and self.simulated_user is None:
            raise ValueError(
                "give the scenario 'turns' (a script) or 'simulated_user' (a model plays the user)"
            )
        if self.turns is not None and self.simulated_user is not None:
            raise ValueError("a scenario has either 'turns' or 'simulated_user', not both")
        return self

    @property
    def planned_turns(self) -> int:
        """The turns a run records at most: the script's length, or the simulated user's
        max_turns, plus one for the answer to ``initial_message`` (a turn of its own)."""
        opening = 1 if self.initial_message is not None else 0
        if self.turns is not None:
            return opening + len(self.turns)
        assert self.simulated_user is not None
        return opening + self.simulated_user.max_turns


class ScenarioFile(_Strict):
    """A whole scenario file, validated; :meth:`conversations` expands it into runs."""

    defaults: Defaults = Defaults()
    judge: ModelSettings | None = None
    simulator: ModelSettings | None = None
    goals: dict[str, GoalSpec] = Field(default_factory=dict)
    scenarios: list[Scenario] = Field(min_length=1)
    path: Path | None = Field(default=None, exclude=True)

    def needs_judge(self) -> bool:
        """Whether any check is a rubric (or a ``stop_when``), so a judge model is required."""
        expects: list[Expect | ConversationExpect | None] = [
            self.defaults.expect,
            self.defaults.conversation_expect,
        ]
        for scenario in self.scenarios:
            expects += [scenario.expect, scenario.conversation_expect]
            expects += [turn.expect for turn in scenario.turns or ()]
            if scenario.simulated_user is not None and scenario.simulated_user.stop_when:
                return True
        return any(expect is not None and expect.rubric is not None for expect in expects)

    def needs_simulator(self) -> bool:
        """True when some scenario has a simulated user (a model must be configured)."""
        return any(scenario.simulated_user is not None for scenario in self.scenarios)

    def conversations(
        self, *, repeat: int | None = None, personas: Sequence[str] = ()
    ) -> list[Conversation]:
        """Every conversation to run: scenario x persona x repeat, in file order.

        ``repeat`` overrides every scenario's repeat count; ``personas`` keeps only
        conversations with one of these personas (all when empty).
        """
        result: list[Conversation] = []
        for scenario in self.scenarios:
            chosen = scenario.persona if scenario.persona is not None else self.defaults.persona
            persona_list = [chosen] if isinstance(chosen, str) else list(chosen)
            count = repeat or scenario.repeat or self.defaults.repeat
            base_expect = (
                scenario.expect.merged_over(self.defaults.expect)
                if scenario.expect
                else self.defaults.expect
            )
            turn_expects = tuple(
                (turn.expect.merged_over(base_expect) if turn.expect else base_expect) or Expect()
                for turn in scenario.turns or ()
            )
            for persona in persona_list:
                if personas and persona not in personas:
                    continue
                for index in range(count):
                    result.append(
                        Conversation(
                            scenario=scenario,
                            persona=persona,
                            repeat=index,
                            goal=None if scenario.goal is None else self.goals[scenario.goal],
                            tier=scenario.tier or self.defaults.tier,
                            turn_expects=turn_expects,
                            reply_expect=base_expect or Expect(),
                            conversation_expect=scenario.conversation_expect
                            or self.defaults.conversation_expect,
                        )
                    )
        return result


@dataclass(frozen=True)
class Conversation:
    """One run of one scenario with one persona: what the runner executes."""

    scenario: Scenario
    persona: str
    repeat: int
    goal: GoalSpec | None
    tier: str | None
    turn_expects: tuple[Expect, ...]
    reply_expect: Expect
    conversation_expect: ConversationExpect | None

    @property
    def key(self) -> tuple[str, str, int]:
        """(scenario, persona, repeat): unique within a run, stable across resumes."""
        return (self.scenario.name, self.persona, self.repeat)

    def expect_for(self, index: int) -> Expect:
        """The checks on the reply to turn ``index`` (every simulated turn shares the scenario's)."""
        if index < len(self.turn_expects):
            return self.turn_expects[index]
        return self.reply_expect


def load_scenarios(path: str | Path) -> ScenarioFile:
    """Read and validate a scenario file; raises :class:`ScenarioFileError` naming each problem.

    The file must be UTF-8 and at most :data:`MAX_FILE_BYTES` long.
    """
    text = read_source(path)
    return parse_scenarios(text, name=str(path), base_dir=Path(path).resolve().parent)


def parse_scenarios(
    text: str, *, name: str = "<scenarios>", base_dir: Path | None = None
) -> ScenarioFile:
    """Validate scenario YAML held in a string; ``name`` is what problems call the file."""
    node, data = compose(text, name)
    problems = list(duplicate_keys(node, name, ()))
    problems += secrets_in(node, name)
    if problems:
        raise ScenarioFileError(problems)
    try:
        parsed = ScenarioFile.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        found = [_problem_from_error(name, node, error) for error in exc.errors()]
        raise ScenarioFileError(list(dict.fromkeys(found))) from None
    problems = list(_cross_check(parsed, name, node))
    if problems:
        raise ScenarioFileError(problems)
    return parsed.model_copy(update={"path": Path(name)})


def _cross_check(parsed: ScenarioFile, name: str, root: yaml.Node) -> Iterator[Problem]:
    """Checks that span sections: goal references and unique scenario names."""
    seen: dict[str, int] = {}
    for index, scenario in enumerate(parsed.scenarios):
        if scenario.goal is not None and scenario.goal not in parsed.goals:
            known = ", ".join(sorted(parsed.goals)) or "none are defined"
            loc: tuple[str | int, ...] = ("scenarios", index, "goal")
            yield problem_at(
                name,
                node_for(root, loc).start_mark,
                dotted(loc),
                f"unknown goal {scenario.goal!r}; define it under 'goals:' (known: {known})",
            )
        if scenario.name in seen:
            loc = ("scenarios", index, "name")
            yield problem_at(
                name,
                node_for(root, loc).start_mark,
                dotted(loc),
                f"the name {scenario.name!r} is already used by scenarios[{seen[scenario.name]}];"
                " names must be unique (transcripts and --resume rely on them)",
            )
        seen.setdefault(scenario.name, index)


def _problem_from_error(name: str, root: yaml.Node, error: Any) -> Problem:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    reached = walk(root, loc)
    kind = error["type"]
    mark = reached.node.start_mark
    where = reached.walked
    if kind == "extra_forbidden":
        key = reached.walked[-1] if reached.walked else "?"
        message = f"unknown key {key!r}"
        allowed = _allowed_keys(reached.walked[:-1])
        if allowed:
            message += f" (expected one of: {', '.join(allowed)})"
        if reached.key_node is not None:
            mark = reached.key_node.start_mark
    elif kind == "missing":
        message = f"missing required key {loc[-1]!r}"
        where = tuple(part for part in loc if not (isinstance(part, str) and is_union_tag(part)))
    else:
        message = str(error["msg"])
        message = message.removeprefix("Value error, ")
        value = error.get("input")
        if kind != "value_error" and not isinstance(value, dict | list):
            message += f" (got {value!r})"
    return problem_at(name, mark, dotted(where), message)


_SECTION_MODELS: dict[str, type[BaseModel]] = {
    "judge": ModelSettings,
    "simulator": ModelSettings,
    "simulated_user": SimulatedUser,
    "rubric": Rubric,
    "expect": Expect,
    "conversation_expect": ConversationExpect,
    "defaults": Defaults,
    "turns": Turn,
    "scenarios": Scenario,
}


def _allowed_keys(parent: tuple[str | int, ...]) -> list[str]:
    names = [part for part in parent if isinstance(part, str)]
    model: type[BaseModel] = ScenarioFile
    if names:
        if names[-1] in _SECTION_MODELS:
            model = _SECTION_MODELS[names[-1]]
        elif len(names) >= 2 and names[-2] == "goals":
            model = GoalSpec
        else:
            return []
    return [field for field in model.model_fields if field != "path"]
