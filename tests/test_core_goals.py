"""The goal model and its liberal parser, on the payloads the sources quote (PROTOCOL B9)."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest

from lume_widget.core.goals import (
    GOAL_TYPES,
    UNSET,
    activity_body,
    activity_from_json,
    goal_from_json,
    goal_page_from_json,
    goal_update_body,
    instance_from_json,
    new_goal_body,
    parse_goal_date,
    progress_body,
    suggestions_from_json,
    tips_from_json,
)
from lume_widget.core.models import Goal
from lume_widget.core.wire import unwrap
from lume_widget.errors import InvalidGoalError, InvalidInputError

# GAC's 201 example (also in FX-GOAL_DATE_DECODING_FIX), the one goal captured from the server.
OBSERVED_201 = """{"data":{"id":"40020d52-dd54-40c2-a8c3-a75c645585f3",
"user_id":"15d3af32-5b1e-4c1e-9d4a-2f0c8a1b7e11","goal_type":"activity",
"title":"Incorporate More Vegetables","description":"Add a serving of vegetables to every meal",
"target_value":1,"target_unit":"completion","current_value":0,"progress":0,
"start_date":"2025-11-17","target_date":"2026-01-16","status":"active","is_overdue":false,
"days_remaining":59,"created_at":"2025-11-17T19:26:02.996263011Z",
"updated_at":"2025-11-17T19:26:02.996263011Z","is_recurring":false}}"""

# GOALS34's StandardResponse around a GoalResponse: date-times, nulls kept, no progress.
SPEC_GOAL = {
    "success": True,
    "data": {
        "id": "7A1B2C3D-0000-4000-8000-000000000001",
        "user_id": "7a1b2c3d-0000-4000-8000-0000000000ff",
        "goal_type": "weight",
        "title": "Lose 10 kg",
        "description": "Weight loss goal for summer",
        "target_value": 10.0,
        "target_unit": "kg",
        "current_value": 4.0,
        "start_date": "2024-01-01T00:00:00Z",
        "target_date": "2024-06-01T00:00:00Z",
        "status": "active",
        "is_recurring": False,
        "recurrence_pattern": None,
        "recurrence_days": None,
        "recurrence_end_date": None,
        "created_at": "2024-01-01T08:00:00Z",
        "updated_at": "2024-01-02T08:00:00Z",
        "statistics": None,
    },
    "error": None,
}


def test_goal_parser_reads_the_observed_201_payload() -> None:
    goal = goal_from_json(unwrap(json.loads(OBSERVED_201)))
    assert goal is not None
    assert goal.id == "40020d52-dd54-40c2-a8c3-a75c645585f3"
    assert (goal.goal_type, goal.title, goal.status) == (
        "activity",
        "Incorporate More Vegetables",
        "active",
    )
    assert (goal.target_value, goal.target_unit, goal.current_value) == (1.0, "completion", 0.0)
    assert goal.progress == 0
    assert goal.progress_percent == 0
    assert (goal.start_date, goal.target_date) == (date(2025, 11, 17), date(2026, 1, 16))
    assert (goal.is_recurring, goal.is_overdue, goal.days_remaining) == (False, False, 59)
    assert goal.created_at == datetime(2025, 11, 17, 19, 26, 2, 996263, tzinfo=timezone.utc)
    assert goal.recurrence_pattern is None
    assert goal.recurrence_days is None
    assert goal.extra == {}


def test_goal_parser_reads_the_spec_shape_with_date_times_and_nulls() -> None:
    goal = goal_from_json(unwrap(SPEC_GOAL))
    assert goal is not None
    assert goal.id == "7a1b2c3d-0000-4000-8000-000000000001"
    assert (goal.start_date, goal.target_date) == (date(2024, 1, 1), date(2024, 6, 1))
    assert goal.description == "Weight loss goal for summer"
    assert goal.progress is None
    assert goal.progress_percent == 40  # from current_value / target_value when progress is absent
    assert goal.label == "Lose 10 kg \u00b7 40%"
    assert goal.statistics is None
    assert goal.extra == {}


def test_goal_parser_keeps_unknown_fields_in_extra_and_reads_statistics() -> None:
    goal = goal_from_json(
        {"id": "g", "title": "t", "category": "health", "statistics": {"trend": "improving"}}
    )
    assert goal is not None
    assert goal.extra == {"category": "health"}
    assert goal.statistics == {"trend": "improving"}


def test_goal_parser_reads_fitiq32_recurrence_object_monday_based_days() -> None:
    goal = goal_from_json(
        {
            "id": "g",
            "title": "Walk",
            "is_recurring": True,
            "recurrence_pattern": {
                "pattern": "weekly",
                "days": [1, 3, 7],
                "end_date": "2026-03-01",
            },
            "target_date": None,
        }
    )
    assert goal is not None
    assert goal.recurrence_pattern == "weekly"
    assert goal.recurrence_days == (1, 3, 0)  # 7 = Sunday in FITIQ32 is 0 in GOALS34
    assert goal.recurrence_end_date == date(2026, 3, 1)
    assert goal.target_date is None
    assert goal.is_recurring is True


def test_goal_parser_rejects_objects_without_an_id_and_ignores_bad_types() -> None:
    assert goal_from_json({"title": "no id"}) is None
    assert goal_from_json(["not", "an", "object"]) is None
    goal = goal_from_json(
        {"id": "g", "title": 3, "target_value": True, "progress": "half", "days_remaining": "x"}
    )
    assert goal is not None
    assert (goal.title, goal.target_value, goal.progress, goal.days_remaining) == (
        "",
        None,
        None,
        None,
    )
    assert goal.target == ""


@pytest.mark.parametrize(
    ("progress", "current", "target", "percent"),
    [
        (0.4, None, None, 40),  # GAC: 0-1
        (40, None, None, 40),  # FITIQ32: 0-100
        (0.4, 4000, 10000, 40),
        (1, 100, 10000, 1),  # 1 on a goal 1% along is a percentage
        (1, 10000, 10000, 100),  # 1 on a reached goal is a fraction
        (None, 12000, 10000, 100),  # clamped
        (None, None, None, None),
    ],
)
def test_goal_progress_reads_either_scale(
    progress: float | None, current: float | None, target: float | None, percent: int | None
) -> None:
    goal = Goal(id="g", title="Walk", progress=progress, current_value=current, target_value=target)
    assert goal.progress_percent == percent


def test_goal_label_shows_progress_when_known() -> None:
    assert Goal(id="g", title="Walk 10000 steps a day", progress=0.4).label == (
        "Walk 10000 steps a day \u00b7 40%"
    )
    assert Goal(id="g", title="Meditate").label == "Meditate"


def test_goal_page_reads_every_list_envelope() -> None:
    one = {"id": "a", "title": "A"}
    spec = goal_page_from_json({"goals": [one], "total": 3, "limit": 1, "offset": 0})
    assert (len(spec.goals), spec.total, spec.has_more, spec.size) == (1, 3, None, 1)
    fitiq = goal_page_from_json(
        {"goals": [one], "total": 1, "limit": 20, "offset": 0, "has_more": False}
    )
    assert (fitiq.total, fitiq.has_more) == (1, False)
    gac = goal_page_from_json({"goals": [one, {"no": "id"}], "total": 2, "has_more": True})
    assert (len(gac.goals), gac.size, gac.has_more) == (1, 2, True)
    older = goal_page_from_json({"goals": [one], "total_count": 1})
    assert older.total == 1
    bare = goal_page_from_json([one, one])
    assert (len(bare.goals), bare.total) == (2, None)
    assert goal_page_from_json(None).goals == ()


def test_goal_dates_parse_in_either_format() -> None:
    assert parse_goal_date("2025-11-17") == date(2025, 11, 17)
    assert parse_goal_date("2025-11-17T00:00:00Z") == date(2025, 11, 17)
    assert parse_goal_date("2025-11-16T23:30:00.123456789-05:00") == date(2025, 11, 16)
    assert parse_goal_date("2025-13-01") is None
    assert parse_goal_date("tomorrow") is None
    assert parse_goal_date(None) is None


def test_new_goal_body_is_what_create_goal_request_requires() -> None:
    body = new_goal_body(
        title="  Lose 10 kg ",
        goal_type="weight",
        target_value=10.0,
        target_unit="kg",
        start_date=date(2024, 1, 1),
        target_date="2024-06-01",
        description="Weight loss goal for summer",
    )
    assert body == {
        "goal_type": "weight",
        "title": "Lose 10 kg",
        "description": "Weight loss goal for summer",
        "target_value": 10.0,
        "target_unit": "kg",
        "start_date": "2024-01-01",
        "target_date": "2024-06-01",
    }


def test_new_goal_body_names_every_missing_required_field() -> None:
    with pytest.raises(InvalidGoalError) as caught:
        new_goal_body(
            title="", goal_type=None, target_value=None, target_unit=None, start_date=None
        )
    assert set(caught.value.problems) == {
        "title",
        "goal_type",
        "target_value",
        "target_unit",
        "start_date",
    }
    assert isinstance(caught.value, InvalidInputError)
    assert "weight, activity, nutrition, custom" in str(caught.value)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"goal_type": "sleep"}, "goal_type"),
        ({"target_value": -1}, "target_value"),
        ({"target_value": float("nan")}, "target_value"),
        ({"target_value": "10"}, "target_value"),
        ({"target_unit": "u" * 51}, "target_unit"),
        ({"title": "t" * 201}, "title"),
        ({"description": "d" * 1001}, "description"),
        ({"start_date": "2024-01-01T00:00:00Z"}, "start_date"),
        ({"start_date": "01/02/2024"}, "start_date"),
        ({"is_recurring": True}, "recurrence_pattern"),
        ({"is_recurring": True, "recurrence_pattern": "hourly"}, "recurrence_pattern"),
        ({"recurrence_days": [0, 7]}, "recurrence_days"),
        ({"title": "Walk \ud800 more"}, "title"),
        ({"target_unit": "st\udc00eps"}, "target_unit"),
    ],
)
def test_new_goal_body_rejects_bad_enum_minimum_and_format(
    change: dict[str, object], field: str
) -> None:
    fields: dict[str, object] = {
        "title": "Walk",
        "goal_type": "activity",
        "target_value": 10000,
        "target_unit": "steps",
        "start_date": "2025-01-01",
        **change,
    }
    with pytest.raises(InvalidGoalError) as caught:
        new_goal_body(**fields)  # type: ignore[arg-type]
    assert list(caught.value.problems) == [field]


def test_new_goal_body_takes_a_recurring_goal_and_zero_target() -> None:
    body = new_goal_body(
        title="Walk",
        goal_type=GOAL_TYPES[1],
        target_value=0,
        target_unit="steps",
        start_date="2025-01-01",
        is_recurring=True,
        recurrence_pattern="weekly",
        recurrence_days=(1, 3, 5),
        recurrence_end_date="2025-06-01",
    )
    assert body["is_recurring"] is True
    assert body["recurrence_days"] == [1, 3, 5]
    assert body["target_value"] == 0


def test_goal_update_body_sends_only_the_fields_given() -> None:
    assert goal_update_body(title="New") == {"title": "New"}
    assert goal_update_body(description=None, target_date=date(2026, 1, 1)) == {
        "description": None,
        "target_date": "2026-01-01",
    }
    with pytest.raises(InvalidGoalError, match="nothing to update"):
        goal_update_body(title=UNSET)
    with pytest.raises(InvalidGoalError):
        goal_update_body(target_value=-3)


def test_progress_body_requires_a_number_of_zero_or_more() -> None:
    assert progress_body(4) == {"current_value": 4}
    for bad in (None, -0.5, "4", True):
        with pytest.raises(InvalidGoalError):
            progress_body(bad)


def test_goal_extras_parse_instances_suggestions_tips_and_activities() -> None:
    instance = instance_from_json(
        {"id": "I", "goal_id": "G", "instance_date": "2025-11-17", "target_value": 8000,
         "current_value": 4000, "status": "in_progress", "created_at": "2025-11-17T08:00:00Z"}
    )  # fmt: skip
    assert instance is not None
    assert (instance.id, instance.goal_id, instance.instance_date) == ("i", "g", date(2025, 11, 17))
    assert instance_from_json({"goal_id": "g"}) is None
    suggestions = suggestions_from_json(
        {"suggestions": [{"title": "Walk", "goal_type": "activity", "difficulty": 2}, {"x": 1}]}
    )
    assert [(s.title, s.difficulty) for s in suggestions] == [("Walk", 2)]
    assert tips_from_json({"tips": ["One", " ", {"tip": "Two"}, 3]}) == ["One", "Two"]
    sga = activity_from_json(
        {"id": "A", "activity_type": "check_in", "note": "ok", "progress_delta": 2,
         "timestamp": "2025-11-17T08:00:00Z"}
    )  # fmt: skip
    assert sga is not None
    assert (sga.activity_type, sga.notes, sga.value) == ("check_in", "ok", 2.0)
    assert activity_body(" walk ", 3, "park") == {
        "activity_type": "walk",
        "value": 3,
        "notes": "park",
    }
    with pytest.raises(InvalidGoalError) as caught:
        activity_body("", "3", "n" * 501)
    assert set(caught.value.problems) == {"activity_type", "value", "notes"}
