"""Scenario files: the schema, expansion into conversations, and errors that name the line and the problem."""

from __future__ import annotations

import textwrap
import typing
from datetime import date
from pathlib import Path

import pytest

from lume_widget.defaults import PERSONAS
from lume_widget.evaluation.expectations import TURN_CHECKS
from lume_widget.evaluation.scenarios import (
    Expect,
    Persona,
    ScenarioFileError,
    load_scenarios,
    parse_scenarios,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "scenarios.yaml"

ISSUE_EXAMPLE = """\
defaults:
  persona: general_wellness
  expect: {max_ttft_s: 10}
goals:
  summer: {title: "Lose 15 pounds for summer vacation", goal_type: weight,
           current_value: 180, target_value: 165, target_unit: lbs}
scenarios:
  - name: goal-aware-opening
    persona: wellness_specialist
    goal: summer
    repeat: 3
    turns:
      - say: "Hi! Can you help me with what I'm trying to achieve?"
        expect:
          icontains_any: ["15 pounds", "summer", "165"]
          not_icontains: ["what goal", "which goal"]
          max_duration_s: 60
      - say: "What should I eat for breakfast?"
        expect: {regex: "(?i)breakfast", tier: live}
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ScenarioFileError) as caught:
        parse_scenarios(textwrap.dedent(text), name="s.yaml")
    return [str(problem) for problem in caught.value.problems]


def test_scenarios_persona_literal_matches_defaults() -> None:
    assert set(typing.get_args(Persona)) == set(PERSONAS)


def test_scenarios_expect_has_a_field_per_check_kind() -> None:
    assert set(Expect.model_fields) == set(TURN_CHECKS) | {"rubric"}


def test_scenarios_issue_example_expands_with_merged_expectations() -> None:
    parsed = parse_scenarios(ISSUE_EXAMPLE)
    conversations = parsed.conversations()
    assert [c.key for c in conversations] == [
        ("goal-aware-opening", "wellness_specialist", index) for index in range(3)
    ]
    first = conversations[0]
    assert first.goal is not None
    assert first.goal.target_value == 165
    assert first.turn_expects[0].model_dump(exclude_none=True) == {
        "icontains_any": ["15 pounds", "summer", "165"],
        "not_icontains": ["what goal", "which goal"],
        "max_ttft_s": 10.0,
        "max_duration_s": 60.0,
    }
    assert first.turn_expects[1].model_dump(exclude_none=True) == {
        "regex": "(?i)breakfast",
        "tier": "live",
        "max_ttft_s": 10.0,
    }


def test_scenarios_repeat_and_persona_filters() -> None:
    parsed = parse_scenarios(
        """
        scenarios:
          - name: everyone
            persona: all
            repeat: 2
            turns: [{say: hello}]
          - name: two
            persona: [nutritionist, fitness_coach]
            turns: [{say: hello}]
        """
    )
    assert len(parsed.conversations()) == 4 * 2 + 2
    assert len(parsed.conversations(repeat=3)) == 4 * 3 + 2 * 3
    only = parsed.conversations(personas=["nutritionist"])
    assert [c.key for c in only] == [
        ("everyone", "nutritionist", 0),
        ("everyone", "nutritionist", 1),
        ("two", "nutritionist", 0),
    ]


def test_scenarios_string_needles_become_lists_and_scenario_expect_applies() -> None:
    parsed = parse_scenarios(
        """
        defaults: {expect: {max_ttft_s: 5, min_chars: 1}}
        scenarios:
          - name: a
            expect: {contains: hello, min_chars: 3}
            conversation_expect: {max_tier_changes: 0}
            initial_message: Hi there
            quick_action: suggest-goal
            tier: rest
            turns:
              - say: hello
              - say: again
                expect: {max_ttft_s: 1}
        """
    )
    conversation = parsed.conversations()[0]
    assert conversation.tier == "rest"
    assert conversation.scenario.initial_message == "Hi there"
    assert conversation.turn_expects[0].model_dump(exclude_none=True) == {
        "contains": ["hello"],
        "min_chars": 3,
        "max_ttft_s": 5.0,
    }
    assert conversation.turn_expects[1].max_ttft_s == 1.0
    assert conversation.conversation_expect is not None
    assert conversation.conversation_expect.max_tier_changes == 0


def test_scenarios_example_file_is_valid_and_covers_every_persona() -> None:
    parsed = load_scenarios(EXAMPLE)
    personas = {c.persona for c in parsed.conversations()}
    assert personas == set(PERSONAS)
    assert "goal-aware-opening" in {s.name for s in parsed.scenarios}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            """
            scenarios:
              - name: a
                turns:
                  - say: hi
                    expect: {icontain: [x]}
            """,
            "s.yaml:6:18: scenarios[0].turns[0].expect.icontain: unknown key 'icontain'"
            " (expected one of: contains, icontains,",
        ),
        (
            """
            scenarios:
              - name: a
                persona: dietician
                turns: [{say: hi}]
            """,
            "s.yaml:4:14: scenarios[0].persona: unknown persona 'dietician'; expected one of"
            " nutritionist, fitness_coach, wellness_specialist, general_wellness (or 'all')",
        ),
        (
            """
            scenarios:
              - name: a
                turns:
                  - say: hi
                    expect:
                      regex: "(unclosed"
            """,
            "s.yaml:7:18: scenarios[0].turns[0].expect.regex: invalid regular expression:",
        ),
        (
            """
            scenarios:
              - name: a
                turns:
                  - expect: {min_chars: 3}
            """,
            "s.yaml:5:9: scenarios[0].turns[0].say: missing required key 'say'",
        ),
        (
            """
            scenarios:
              - name: a
                turns: [{say: hi, expect: {max_ttft_s: -1}}]
            """,
            "s.yaml:4:44: scenarios[0].turns[0].expect.max_ttft_s: Input should be greater than 0 (got -1)",
        ),
        (
            """
            scenarios:
              - name: a
                turns: [{say: hi, expect: {tier: fast}}]
            """,
            "s.yaml:4:38: scenarios[0].turns[0].expect.tier: Input should be 'live', 'rest' or 'legacy' (got 'fast')",
        ),
        (
            """
            scenarios:
              - name: a
                turns: [{say: "   "}]
            """,
            "s.yaml:4:19: scenarios[0].turns[0].say: a message cannot be blank",
        ),
        (
            """
            scenarios:
              - name: a
                turns: []
            """,
            "s.yaml:4:12: scenarios[0].turns: List should have at least 1 item",
        ),
        (
            """
            scenarios:
              - name: a
                goal: winter
                turns: [{say: hi}]
            """,
            "s.yaml:4:11: scenarios[0].goal: unknown goal 'winter'; define it under 'goals:' (known: none are defined)",
        ),
        (
            """
            scenarios:
              - {name: a, turns: [{say: hi}]}
              - {name: a, turns: [{say: hi}]}
            """,
            "s.yaml:4:12: scenarios[1].name: the name 'a' is already used by scenarios[0]",
        ),
        (
            """
            scenarios:
              - name: a
                turns: [{say: hi, expect: {python: "lume_eval_absent:check"}}]
            """,
            "s.yaml:4:40: scenarios[0].turns[0].expect.python: cannot import module 'lume_eval_absent'",
        ),
        (
            """
            goals:
              g: {title: G, target: 3}
            scenarios: [{name: a, goal: g, turns: [{say: hi}]}]
            """,
            "s.yaml:3:17: goals.g.target: unknown key 'target' (expected one of: title, goal_type,",
        ),
        (
            """
            scenarios:
              - name: a
                name: b
                turns: [{say: hi}]
            """,
            "s.yaml:4:5: scenarios[0].name: the key 'name' appears twice",
        ),
        (
            """
            scenarios:
              - name: a
                turns: [{say: hi}
            """,
            "s.yaml:5:1: not valid YAML: ",  # the wording is libyaml's or PyYAML's,
        ),
        ("scenarios: 3\n", "s.yaml:1:12: scenarios: Input should be a valid list (got 3)"),
        ("- just a list\n", "s.yaml:1:1: expected a mapping with a 'scenarios' list at the top"),
        ("defaults: {}\n", "s.yaml:1:1: scenarios: missing required key 'scenarios'"),
    ],
)
def test_scenarios_bad_file_names_line_and_problem(text: str, expected: str) -> None:
    problems = problems_of(text)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_scenarios_every_problem_is_reported_at_once() -> None:
    problems = problems_of(
        """
        scenarios:
          - name: a
            repeat: 0
            turns:
              - say: hi
                expect: {min_chars: -1, contains: []}
        """
    )
    assert [problem.split(": ")[1] for problem in problems] == [
        "scenarios[0].repeat",
        "scenarios[0].turns[0].expect.contains",
        "scenarios[0].turns[0].expect.min_chars",
    ]


def test_scenarios_error_message_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("scenarios:\n  - name: a\n    turns: [{say: hi, expect: {regexp: x}}]\n")
    with pytest.raises(ScenarioFileError) as caught:
        load_scenarios(path)
    message = str(caught.value)
    assert message.startswith("the scenario file has a problem; fix it and run again:")
    assert f"{path}:3:32: scenarios[0].turns[0].expect.regexp: unknown key 'regexp'" in message


def test_scenarios_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioFileError, match="cannot read it"):
        load_scenarios(tmp_path / "absent.yaml")


def test_scenarios_python_check_beside_the_file(tmp_path: Path) -> None:
    (tmp_path / "lume_eval_local_checks.py").write_text("def fine(record):\n    return None\n")
    path = tmp_path / "s.yaml"
    path.write_text(
        "scenarios:\n  - name: a\n    turns: [{say: hi, expect: {python: 'lume_eval_local_checks:fine'}}]\n"
    )
    parsed = load_scenarios(path)
    assert parsed.conversations()[0].turn_expects[0].python == "lume_eval_local_checks:fine"


def test_scenarios_goals_take_the_goals_api_fields() -> None:
    parsed = parse_scenarios(
        textwrap.dedent(
            """
            goals:
              walk: {title: Walk daily, goal_type: activity, target_value: 10000,
                     target_unit: steps, current_value: 4000, start_date: 2025-01-01,
                     is_recurring: true, recurrence_pattern: weekly, recurrence_days: [1, 3, 5],
                     recurrence_end_date: 2025-06-01}
              weigh: {title: Lose 5 kg, target_value: 5, target_unit: kg, target_date: 2025-09-01}
            scenarios: [{name: a, goal: walk, turns: [{say: hi}]}]
            """
        )
    )
    walk = parsed.goals["walk"].create_arguments()
    assert walk["start_date"] == date(2025, 1, 1)
    assert (walk["recurrence_pattern"], walk["recurrence_days"]) == ("weekly", [1, 3, 5])
    assert walk["current_value"] == 4000
    assert parsed.goals["weigh"].goal_type == "custom"  # the default type
    assert parsed.goals["weigh"].target_date == date(2025, 9, 1)


def test_scenarios_goals_refuse_what_the_backend_refuses() -> None:
    problems = problems_of(
        """
        goals:
          g: {title: G, goal_type: sleep, target_value: -1}
        scenarios: [{name: a, goal: g, turns: [{say: hi}]}]
        """
    )
    assert [problem.split(": ")[1] for problem in problems] == [
        "goals.g.goal_type",
        "goals.g.target_value",
        "goals.g.target_unit",
    ]
