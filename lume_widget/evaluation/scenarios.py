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
)

from lume_widget.defaults import DEFAULT_PERSONA, MAX_MESSAGE_CHARS, PERSONAS
from lume_widget.errors import ConfigurationError
from lume_widget.evaluation.expectations import resolve_python_check

__all__ = [
    "Conversation",
    "ConversationExpect",
    "Defaults",
    "Expect",
    "GoalSpec",
    "Problem",
    "Scenario",
    "ScenarioFile",
    "ScenarioFileError",
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
    tier: TierName | None = None
    python: str | None = None

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
        data = base.model_dump(exclude_none=True)
        data.update(self.model_dump(exclude_none=True))
        return Expect.model_construct(**data)

    def is_empty(self) -> bool:
        return not self.model_dump(exclude_none=True)


class ConversationExpect(_Strict):
    """Checks on a whole conversation, judged after its last turn."""

    max_tier_changes: int | None = Field(default=None, ge=0)
    max_reconnects: int | None = Field(default=None, ge=0)
    tier: TierName | None = None
    max_total_duration_s: float | None = Field(default=None, gt=0)
    python: str | None = None

    @field_validator("python")
    @classmethod
    def _importable(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _check_python(value, info)


class Turn(_Strict):
    """One user message and the checks on the reply to it."""

    say: str = Field(min_length=1)
    expect: Expect | None = None

    @field_validator("say")
    @classmethod
    def _fits(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a message cannot be blank")
        if len(value.strip()) > MAX_MESSAGE_CHARS:
            raise ValueError(
                f"a message holds at most {MAX_MESSAGE_CHARS} characters after trimming"
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
    turns: list[Turn] = Field(min_length=1)

    @field_validator("persona", mode="before")
    @classmethod
    def _personas(cls, value: Any) -> Any:
        return _check_personas(value)


class ScenarioFile(_Strict):
    """A whole scenario file, validated; :meth:`conversations` expands it into runs."""

    defaults: Defaults = Defaults()
    goals: dict[str, GoalSpec] = Field(default_factory=dict)
    scenarios: list[Scenario] = Field(min_length=1)
    path: Path | None = Field(default=None, exclude=True)

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
                for turn in scenario.turns
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
    conversation_expect: ConversationExpect | None

    @property
    def key(self) -> tuple[str, str, int]:
        """(scenario, persona, repeat): unique within a run, stable across resumes."""
        return (self.scenario.name, self.persona, self.repeat)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario file, and where."""

    file: str
    line: int | None
    column: int | None
    where: str
    message: str

    def __str__(self) -> str:
        place = self.file
        if self.line is not None:
            place += f":{self.line}:{self.column}"
        return f"{place}: {self.where + ': ' if self.where else ''}{self.message}"


class ScenarioFileError(ConfigurationError):
    """A scenario file that cannot be used; ``problems`` names the line and the problem of each."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = (
            "the scenario file has a problem"
            if count == 1
            else f"the scenario file has {count} problems"
        )
        body = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{head}; fix it and run again:\n{body}")


def load_scenarios(path: str | Path) -> ScenarioFile:
    """Read and validate a scenario file; raises :class:`ScenarioFileError` naming each problem."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioFileError(
            [Problem(str(file), None, None, "", f"cannot read it ({exc.strerror or exc})")]
        ) from exc
    return parse_scenarios(text, name=str(file), base_dir=file.resolve().parent)


def parse_scenarios(
    text: str, *, name: str = "<scenarios>", base_dir: Path | None = None
) -> ScenarioFile:
    """Validate scenario YAML held in a string; ``name`` is what problems call the file."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or str(exc)
        raise ScenarioFileError(
            [_problem_at(name, mark, "", f"not valid YAML: {problem}")]
        ) from None
    except yaml.YAMLError as exc:
        raise ScenarioFileError([Problem(name, None, None, "", f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()

    if node is None or not isinstance(data, dict):
        mark = node.start_mark if node is not None else None
        raise ScenarioFileError(
            [_problem_at(name, mark, "", "expected a mapping with a 'scenarios' list at the top")]
        )
    problems = list(_duplicate_keys(node, name, ()))
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
            yield _problem_at(
                name,
                _node_for(root, loc).start_mark,
                _dotted(loc),
                f"unknown goal {scenario.goal!r}; define it under 'goals:' (known: {known})",
            )
        if scenario.name in seen:
            loc = ("scenarios", index, "name")
            yield _problem_at(
                name,
                _node_for(root, loc).start_mark,
                _dotted(loc),
                f"the name {scenario.name!r} is already used by scenarios[{seen[scenario.name]}];"
                " names must be unique (transcripts and --resume rely on them)",
            )
        seen.setdefault(scenario.name, index)


def _duplicate_keys(node: yaml.Node, name: str, loc: tuple[str | int, ...]) -> Iterator[Problem]:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                yield _problem_at(
                    name,
                    key_node.start_mark,
                    _dotted((*loc, key)),
                    f"the key {key!r} appears twice",
                )
            seen.add(key)
            yield from _duplicate_keys(value_node, name, (*loc, key))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, name, (*loc, index))


def _problem_from_error(name: str, root: yaml.Node, error: Any) -> Problem:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    reached = _walk(root, loc)
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
        where = tuple(part for part in loc if not (isinstance(part, str) and _is_union_tag(part)))
    else:
        message = str(error["msg"])
        message = message.removeprefix("Value error, ")
        value = error.get("input")
        if kind != "value_error" and not isinstance(value, dict | list):
            message += f" (got {value!r})"
    return _problem_at(name, mark, _dotted(where), message)


def _walk(root: yaml.Node, loc: tuple[str | int, ...]) -> _Reached:
    """Follow a pydantic location through the YAML nodes as far as it goes.

    pydantic puts union member tags (``list[str]``, ``str``) into locations; they name
    no YAML node and are skipped.
    """
    node = root
    key_node: yaml.Node | None = None
    walked: list[str | int] = []
    found = True
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for candidate_key, value_node in node.value:
                if str(candidate_key.value) == part:
                    walked.append(part)
                    key_node, node = candidate_key, value_node
                    break
            else:
                if not _is_union_tag(part):
                    found = False
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                found = False
                break
            walked.append(part)
            key_node, node = None, node.value[part]
        elif isinstance(part, int) or not _is_union_tag(part):
            found = False
            break
    return _Reached(node, key_node, tuple(walked), found)


@dataclass(frozen=True)
class _Reached:
    node: yaml.Node
    key_node: yaml.Node | None
    walked: tuple[str | int, ...]
    found: bool


def _is_union_tag(part: str) -> bool:
    return "[" in part or part in (
        "str",
        "int",
        "float",
        "bool",
        "function-after",
        "function-before",
    )


def _node_for(root: yaml.Node, loc: tuple[str | int, ...]) -> yaml.Node:
    return _walk(root, loc).node


_SECTION_MODELS: dict[str, type[BaseModel]] = {
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


def _dotted(loc: Sequence[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _problem_at(name: str, mark: Any, where: str, message: str) -> Problem:
    if mark is None:
        return Problem(name, None, None, where, message)
    return Problem(name, mark.line + 1, mark.column + 1, where, message)
