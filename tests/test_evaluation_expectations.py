"""Every expectation kind, passing and failing, on turn records and whole conversations."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from lume_widget.evaluation.expectations import (
    CONVERSATION_CHECKS,
    TURN_CHECKS,
    check_conversation,
    check_turn,
    resolve_python_check,
)
from lume_widget.evaluation.records import TurnRecord


def make_record(**changes: Any) -> TurnRecord:
    values: dict[str, Any] = {
        "scenario": "s",
        "repeat": 0,
        "persona": "general_wellness",
        "turn": 0,
        "say": "hi",
        "reply": "Your goal: lose 15 pounds before Summer. Breakfast matters.",
        "ttft_s": 0.2,
        "duration_s": 1.5,
        "chunks": 7,
        "chunk_gap_max_s": 0.3,
        "tier": "live",
    }
    values.update(changes)
    return TurnRecord(**values)


@pytest.fixture(scope="module")
def user_checks(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("checks")
    (folder / "lume_eval_user_checks.py").write_text(
        textwrap.dedent(
            """
            def short(record):
                return None if len(record.reply) < 100 else "too long"

            def boolean(record):
                return "Summer" in record.reply

            def crashes(record):
                raise RuntimeError("boom")

            def odd(record):
                return 42

            def every_turn_live(records):
                return all(r.tier == "live" for r in records) or "not all live"
            """
        )
    )
    sys.path.insert(0, str(folder))
    yield "lume_eval_user_checks"
    sys.path.remove(str(folder))


# kind -> (a value that passes on make_record(), a value that fails, words in the failure)
TURN_CASES: dict[str, tuple[Any, Any, str]] = {
    "contains": (["15 pounds"], ["20 pounds"], "lacks '20 pounds'"),
    "icontains": (["summer"], ["winter"], "lacks 'winter'"),
    "contains_any": (["nope", "Summer"], ["nope", "summer"], "none of"),
    "icontains_any": (["nope", "SUMMER"], ["nope", "winter"], "none of"),
    "contains_all": (["goal", "Summer"], ["goal", "summer"], "lacks 'summer'"),
    "icontains_all": (["GOAL", "summer"], ["goal", "winter"], "lacks 'winter'"),
    "not_contains": (["summer"], ["Summer"], "has 'Summer'"),
    "not_icontains": (["which goal"], ["BREAKFAST"], "has 'BREAKFAST'"),
    "regex": (r"(?i)breakfast", r"\bdinner\b", "does not match"),
    "not_regex": (r"\bdinner\b", r"\d+ pounds", "matches '15 pounds'"),
    "min_chars": (10, 1000, "fewer than 1000"),
    "max_chars": (1000, 10, "more than 10"),
    "max_ttft_s": (1.0, 0.1, "over 0.1 s"),
    "max_duration_s": (2.0, 1.0, "over 1 s"),
    "max_chunk_gap_s": (0.5, 0.25, "paused 0.300 s between two chunks, over 0.25 s"),
    "tier": ("live", "rest", "came over live, expected rest"),
    "python": ("{mod}:short", "{mod}:crashes", "raised RuntimeError: boom"),
}


def test_turn_checks_cover_every_kind() -> None:
    assert set(TURN_CASES) == set(TURN_CHECKS)


@pytest.mark.parametrize("kind", sorted(TURN_CASES))
def test_turn_check_passes_and_fails(kind: str, user_checks: str) -> None:
    good, bad, words = TURN_CASES[kind]
    if kind == "python":
        good, bad = good.format(mod=user_checks), bad.format(mod=user_checks)
    record = make_record()
    assert check_turn(record, {kind: good}) == []
    failures = check_turn(record, {kind: bad})
    assert len(failures) == 1
    assert failures[0].startswith(f"{kind}:" if kind != "python" else f"python {bad}:")
    assert words in failures[0]


def test_python_check_verdicts(user_checks: str) -> None:
    record = make_record(reply="x" * 200)
    assert check_turn(record, {"python": f"{user_checks}:short"}) == [
        f"python {user_checks}:short: too long"
    ]
    assert check_turn(make_record(), {"python": f"{user_checks}:boolean"}) == []
    assert check_turn(make_record(reply="no"), {"python": f"{user_checks}:boolean"}) == [
        f"python {user_checks}:boolean: returned False"
    ]
    odd = check_turn(make_record(), {"python": f"{user_checks}:odd"})
    assert "returned 42" in odd[0]


def test_timing_checks_fail_when_nothing_arrived() -> None:
    record = make_record(ttft_s=None, duration_s=None)
    failures = check_turn(record, {"max_ttft_s": 10, "max_duration_s": 10})
    assert failures == [
        "max_ttft_s: no reply content arrived, so there is no time to first token",
        "max_duration_s: the reply never completed",
    ]


def test_check_turn_reports_every_failure_in_order() -> None:
    failures = check_turn(make_record(), {"contains": ["zzz"], "max_chars": 5, "tier": "legacy"})
    assert [failure.split(":")[0] for failure in failures] == ["contains", "max_chars", "tier"]


def test_conversation_checks_cover_every_kind() -> None:
    assert set(CONVERSATION_CHECKS) == {
        "max_tier_changes",
        "max_reconnects",
        "tier",
        "max_total_duration_s",
        "python",
    }


def test_conversation_checks_pass_and_fail(user_checks: str) -> None:
    calm = [make_record(turn=0), make_record(turn=1)]
    rough = [make_record(turn=0, tier_changes=1, reconnects=2), make_record(turn=1, tier="rest")]
    expectations = {
        "max_tier_changes": 0,
        "max_reconnects": 0,
        "tier": "live",
        "max_total_duration_s": 2.5,
        "python": f"{user_checks}:every_turn_live",
    }
    assert check_conversation(calm, {**expectations, "max_total_duration_s": 3.5}) == []
    failures = check_conversation(rough, expectations)
    assert failures == [
        "conversation max_tier_changes: the tier changed 1 times, more than 0",
        "conversation max_reconnects: the live link was re-opened 2 times, more than 0",
        "conversation tier: expected every turn over live, but turn 1: rest",
        "conversation max_total_duration_s: the replies took 3.000 s in all, over 2.5 s",
        f"conversation python {user_checks}:every_turn_live: not all live",
    ]


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("no_colon", "expected 'module:function'"),
        ("lume_eval_missing_module:fn", "cannot import module 'lume_eval_missing_module'"),
        ("json:no_such_function", "has no function 'no_such_function'"),
        ("json:__doc__", "is not a function"),
    ],
)
def test_resolve_python_check_explains_bad_targets(target: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        resolve_python_check(target)


def test_resolve_python_check_imports_beside_the_scenario_file(tmp_path: Path) -> None:
    (tmp_path / "lume_eval_beside.py").write_text("def ok(record):\n    return None\n")
    function = resolve_python_check("lume_eval_beside:ok", tmp_path)
    assert function(make_record()) is None
    assert str(tmp_path) not in sys.path
