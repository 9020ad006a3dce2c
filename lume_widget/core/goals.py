"""The goals API on the wire: goal objects and list pages decoded, request bodies checked.

Decoding is liberal (PROTOCOL A1, B9.4-B9.5): ``{"data"}`` with or without ``success``,
a list page as ``{goals, total, limit, offset, has_more?}`` (GOALS34, FITIQ32),
``{goals, total, has_more}`` (GAC), ``{goals, total_count}`` (older servers) or a bare
list; null fields may be missing; ``start_date`` and friends as ``YYYY-MM-DD`` or as an
RFC 3339 date-time; ``recurrence_pattern`` as a string (GOALS34) or as FITIQ32's object
``{pattern, days (1..7, 1 = Monday), end_date}``; fields nobody documents kept in
``Goal.extra``.

Encoding is strict: :func:`new_goal_body` and :func:`goal_update_body` check what
CreateGoalRequest and UpdateGoalRequest require (B9.2) and raise
:class:`~lume_widget.errors.InvalidGoalError` naming every bad field before anything is
sent, so a user never waits on a round trip to learn that ``goal_type`` is missing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from lume_widget.core.models import Goal
from lume_widget.core.wire import parse_timestamp
from lume_widget.errors import InvalidGoalError
from lume_widget.text import lone_surrogate_at

__all__ = [
    "GOAL_STATUSES",
    "GOAL_TYPES",
    "MAX_DESCRIPTION_CHARS",
    "MAX_TITLE_CHARS",
    "MAX_UNIT_CHARS",
    "RECURRENCE_PATTERNS",
    "UNSET",
    "GoalActivity",
    "GoalHistory",
    "GoalInstance",
    "GoalPage",
    "GoalSuggestion",
    "activity_body",
    "activity_from_json",
    "goal_from_json",
    "goal_page_from_json",
    "goal_update_body",
    "instance_from_json",
    "new_goal_body",
    "parse_goal_date",
    "progress_body",
    "suggestions_from_json",
    "tips_from_json",
]

GOAL_TYPES = ("weight", "activity", "nutrition", "custom")
GOAL_STATUSES = ("active", "completed", "abandoned")
RECURRENCE_PATTERNS = ("daily", "weekly", "monthly")
MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 1000
MAX_UNIT_CHARS = 50

_KNOWN = frozenset(
    {
        "id", "title", "user_id", "goal_type", "description", "target_value", "target_unit",
        "current_value", "progress", "start_date", "target_date", "status", "is_recurring",
        "recurrence_pattern", "recurrence_days", "recurrence_end_date", "is_overdue",
        "days_remaining", "completed_at", "created_at", "updated_at", "statistics",
    }
)  # fmt: skip
_DATE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s*$")


class _Unset:
    """The default of an update argument that was not given (None means "clear it")."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def parse_goal_date(value: Any) -> date | None:
    """A date from ``YYYY-MM-DD``, an RFC 3339 date-time (its own calendar day) or None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    match = _DATE.match(value)
    if match is not None:
        try:
            return date.fromisoformat(match.group(1))
        except ValueError:
            return None
    stamp = parse_timestamp(value)
    return None if stamp is None else stamp.date()


def goal_from_json(data: Any) -> Goal | None:
    """A Goal from its JSON object (GOALS34, FITIQ32 or GAC shape), or None if it has no id."""
    if not isinstance(data, Mapping) or not isinstance(data.get("id"), str) or not data["id"]:
        return None
    pattern: Any = data.get("recurrence_pattern")
    days: Any = data.get("recurrence_days")
    end: Any = data.get("recurrence_end_date")
    if isinstance(pattern, Mapping):  # FITIQ32: {pattern, days (1..7, 1 = Monday), end_date}
        if days is None and isinstance(pattern.get("days"), list):
            days = [d % 7 for d in pattern["days"] if _is_int(d)]
        end = end if end is not None else pattern.get("end_date")
        pattern = pattern.get("pattern")
    statistics = data.get("statistics")
    return Goal(
        id=data["id"].strip().lower(),
        title=_text(data.get("title")) or "",
        user_id=_lower(data.get("user_id")),
        goal_type=_text(data.get("goal_type")),
        description=_text(data.get("description")),
        target_value=_number(data.get("target_value")),
        target_unit=_text(data.get("target_unit")),
        current_value=_number(data.get("current_value")),
        progress=_number(data.get("progress")),
        start_date=parse_goal_date(data.get("start_date")),
        target_date=parse_goal_date(data.get("target_date")),
        status=_text(data.get("status")),
        is_recurring=data.get("is_recurring") is True,
        recurrence_pattern=_text(pattern),
        recurrence_days=(
            tuple(int(d) for d in days if _is_int(d)) if isinstance(days, list) else None
        ),
        recurrence_end_date=parse_goal_date(end),
        is_overdue=data["is_overdue"] if isinstance(data.get("is_overdue"), bool) else None,
        days_remaining=int(data["days_remaining"]) if _is_int(data.get("days_remaining")) else None,
        completed_at=parse_timestamp(data.get("completed_at")),
        created_at=parse_timestamp(data.get("created_at")),
        updated_at=parse_timestamp(data.get("updated_at")),
        statistics=dict(statistics) if isinstance(statistics, Mapping) else None,
        extra={k: v for k, v in data.items() if k not in _KNOWN},
    )


@dataclass(frozen=True, slots=True)
class GoalPage:
    """One page of ``GET /goals``: its goals, and what the backend said about the rest.

    ``total`` is None when the page did not say; ``has_more`` likewise.
    """

    goals: tuple[Goal, ...]
    total: int | None = None
    has_more: bool | None = None
    size: int = 0


def goal_page_from_json(payload: Any) -> GoalPage:
    """A list page from any of the envelopes the sources show (see the module docstring)."""
    items: Any = payload
    total: Any = None
    has_more: Any = None
    if isinstance(payload, Mapping):
        items = payload.get("goals")
        total = payload.get("total", payload.get("total_count"))
        has_more = payload.get("has_more")
    if not isinstance(items, list):
        items = []
    goals = tuple(g for g in (goal_from_json(item) for item in items) if g is not None)
    return GoalPage(
        goals,
        int(total) if _is_int(total) else None,
        has_more if isinstance(has_more, bool) else None,
        len(items),
    )


# -- request bodies -------------------------------------------------------------------------


def new_goal_body(
    *,
    title: Any,
    goal_type: Any,
    target_value: Any,
    target_unit: Any,
    start_date: Any,
    description: Any = None,
    target_date: Any = None,
    is_recurring: Any = False,
    recurrence_pattern: Any = None,
    recurrence_days: Any = None,
    recurrence_end_date: Any = None,
) -> dict[str, Any]:
    """The JSON body of ``POST /goals`` (CreateGoalRequest), or InvalidGoalError naming each bad field."""
    problems: dict[str, str] = {}
    body: dict[str, Any] = {}
    body["title"] = _check_title(title, problems)
    if goal_type is None or goal_type == "":
        problems["goal_type"] = f"goal_type is required: one of {', '.join(GOAL_TYPES)}"
    elif goal_type not in GOAL_TYPES:
        problems["goal_type"] = (
            f"goal_type {goal_type!r} is not one the backend accepts: use one of "
            f"{', '.join(GOAL_TYPES)}"
        )
    body["goal_type"] = goal_type
    body["target_value"] = _check_amount(target_value, "target_value", problems)
    if target_unit is None or (isinstance(target_unit, str) and not target_unit.strip()):
        problems["target_unit"] = "target_unit is required, e.g. steps, kg or minutes"
    elif not isinstance(target_unit, str) or len(target_unit.strip()) > MAX_UNIT_CHARS:
        problems["target_unit"] = f"target_unit must be text of at most {MAX_UNIT_CHARS} characters"
    else:
        body["target_unit"] = target_unit.strip()
    body["start_date"] = _check_date(start_date, "start_date", problems)
    if description is not None:
        body["description"] = _check_description(description, problems)
    if target_date is not None:
        body["target_date"] = _check_date(target_date, "target_date", problems)
    if not isinstance(is_recurring, bool):
        problems["is_recurring"] = "is_recurring must be true or false"
    elif is_recurring:
        body["is_recurring"] = True
        if recurrence_pattern is None:
            problems["recurrence_pattern"] = (
                "recurrence_pattern is required for a recurring goal: daily, weekly or monthly"
            )
    if recurrence_pattern is not None:
        if recurrence_pattern not in RECURRENCE_PATTERNS:
            problems["recurrence_pattern"] = (
                f"recurrence_pattern must be one of {', '.join(RECURRENCE_PATTERNS)}"
            )
        body["recurrence_pattern"] = recurrence_pattern
    if recurrence_days is not None:
        days = list(recurrence_days) if isinstance(recurrence_days, list | tuple) else None
        if days is None or not all(_is_int(d) and 0 <= d <= 6 for d in days):
            problems["recurrence_days"] = "recurrence_days must be day numbers 0..6 (0 = Sunday)"
        body["recurrence_days"] = days
    if recurrence_end_date is not None:
        body["recurrence_end_date"] = _check_date(
            recurrence_end_date, "recurrence_end_date", problems
        )
    _check_unicode(body, problems)
    _raise_if(problems, "The goal was not created")
    return body


def goal_update_body(
    *,
    title: Any = UNSET,
    description: Any = UNSET,
    target_value: Any = UNSET,
    target_date: Any = UNSET,
) -> dict[str, Any]:
    """The JSON body of ``PUT /goals/{id}`` (UpdateGoalRequest): only the fields given.

    ``description=None`` or ``target_date=None`` clears it; at least one field is needed.
    """
    problems: dict[str, str] = {}
    body: dict[str, Any] = {}
    if title is not UNSET:
        body["title"] = _check_title(title, problems)
    if description is not UNSET:
        body["description"] = (
            None if description is None else _check_description(description, problems)
        )
    if target_value is not UNSET:
        body["target_value"] = _check_amount(target_value, "target_value", problems)
    if target_date is not UNSET:
        body["target_date"] = (
            None if target_date is None else _check_date(target_date, "target_date", problems)
        )
    if not body:
        problems["goal"] = (
            "nothing to update: give title, description, target_value or target_date "
            "(use update_progress() for current_value)"
        )
    _check_unicode(body, problems)
    _raise_if(problems, "The goal was not updated")
    return body


def progress_body(current_value: Any) -> dict[str, Any]:
    """The JSON body of ``PATCH /goals/{id}/progress``: ``{current_value}``, a number >= 0."""
    problems: dict[str, str] = {}
    value = _check_amount(current_value, "current_value", problems)
    _raise_if(problems, "The progress was not recorded")
    return {"current_value": value}


def _check_unicode(body: dict[str, Any], problems: dict[str, str]) -> None:
    for key, value in body.items():
        if key not in problems and isinstance(value, str) and lone_surrogate_at(value) is not None:
            problems[key] = (
                f"{key} holds a lone UTF-16 surrogate, which is not valid Unicode; retype it"
            )


def _raise_if(problems: dict[str, str], what: str) -> None:
    if problems:
        raise InvalidGoalError(f"{what}: " + "; ".join(problems.values()) + ".", problems=problems)


def _check_title(value: Any, problems: dict[str, str]) -> Any:
    if not isinstance(value, str) or not value.strip():
        problems["title"] = "title is required: say what the goal is"
        return value
    if len(value.strip()) > MAX_TITLE_CHARS:
        problems["title"] = (
            f"title has {len(value.strip())} characters; the backend takes at most {MAX_TITLE_CHARS}"
        )
    return value.strip()


def _check_description(value: Any, problems: dict[str, str]) -> Any:
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION_CHARS:
        problems["description"] = (
            f"description must be text of at most {MAX_DESCRIPTION_CHARS} characters"
        )
    return value


def _check_amount(value: Any, name: str, problems: dict[str, str]) -> Any:
    """A required amount: a finite number, 0 or more."""
    if value is None:
        problems[name] = f"{name} is required: a number, 0 or more"
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems[name] = f"{name} must be a number, not {value!r}"
    elif value < 0:
        problems[name] = f"{name} must be 0 or more (got {value:g})"
    return value


def _check_date(value: Any, name: str, problems: dict[str, str]) -> Any:
    """A date given as ``YYYY-MM-DD`` (an optional date is checked only when given)."""
    if value is None:
        problems[name] = f"{name} is required: a date as YYYY-MM-DD"
        return value
    parsed = parse_goal_date(value)
    if parsed is None or (isinstance(value, str) and _DATE.match(value) is None):
        problems[name] = f"{name} must be a date as YYYY-MM-DD, not {value!r}"
        return value
    return parsed.isoformat()


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and value != "" else None


# -- instances, history, suggestions, activities (B9.6) -------------------------------------


@dataclass(frozen=True, slots=True)
class GoalInstance:
    """One day of a recurring goal (GOALS34 GoalInstance; FITIQ32's ``progress`` when sent)."""

    id: str
    goal_id: str
    instance_date: date | None = None
    target_value: float | None = None
    current_value: float | None = None
    progress: float | None = None
    status: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class GoalHistory:
    """A recurring goal's instances (newest first, every page) and the backend's summary."""

    goal_id: str
    instances: tuple[GoalInstance, ...]
    summary: dict[str, Any]
    total: int | None = None


@dataclass(frozen=True, slots=True)
class GoalSuggestion:
    """A goal the backend suggests; pass its fields to ``create_goal`` to adopt it."""

    title: str
    goal_type: str | None = None
    description: str | None = None
    target_value: float | None = None
    target_unit: str | None = None
    rationale: str | None = None
    estimated_duration: int | None = None
    difficulty: int | None = None


@dataclass(frozen=True, slots=True)
class GoalActivity:
    """One logged activity of a goal (GOALS34; SGA's ``note``/``timestamp`` read as well)."""

    id: str
    goal_id: str | None = None
    activity_type: str | None = None
    value: float | None = None
    notes: str | None = None
    logged_at: datetime | None = None


def instance_from_json(data: Any) -> GoalInstance | None:
    """A GoalInstance, or None without an id."""
    if not isinstance(data, Mapping) or not _text(data.get("id")):
        return None
    return GoalInstance(
        id=data["id"].lower(),
        goal_id=_lower(data.get("goal_id")) or "",
        instance_date=parse_goal_date(data.get("instance_date")),
        target_value=_number(data.get("target_value")),
        current_value=_number(data.get("current_value")),
        progress=_number(data.get("progress")),
        status=_text(data.get("status")),
        created_at=parse_timestamp(data.get("created_at")),
        updated_at=parse_timestamp(data.get("updated_at")),
    )


def suggestions_from_json(payload: Any) -> list[GoalSuggestion]:
    """Suggestions from ``{suggestions: [...]}`` or a bare list; items without a title are skipped."""
    items = payload.get("suggestions") if isinstance(payload, Mapping) else payload
    found = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping) or not _text(item.get("title")):
            continue
        duration: Any = item.get("estimated_duration")
        difficulty: Any = item.get("difficulty")
        found.append(
            GoalSuggestion(
                title=item["title"],
                goal_type=_text(item.get("goal_type")),
                description=_text(item.get("description")),
                target_value=_number(item.get("target_value")),
                target_unit=_text(item.get("target_unit")),
                rationale=_text(item.get("rationale")),
                estimated_duration=int(duration) if _is_int(duration) else None,
                difficulty=int(difficulty) if _is_int(difficulty) else None,
            )
        )
    return found


def tips_from_json(payload: Any) -> list[str]:
    """Tips from ``{tips: [...]}`` or a bare list: strings, or the ``tip``/``text`` of objects."""
    items = payload.get("tips") if isinstance(payload, Mapping) else payload
    tips = []
    for item in items if isinstance(items, list) else []:
        text = item if isinstance(item, str) else None
        if isinstance(item, Mapping):
            text = _text(item.get("tip")) or _text(item.get("text")) or _text(item.get("content"))
        if text and text.strip():
            tips.append(text.strip())
    return tips


def activity_from_json(data: Any) -> GoalActivity | None:
    """A GoalActivity, or None without an id."""
    if not isinstance(data, Mapping) or not _text(data.get("id")):
        return None
    return GoalActivity(
        id=data["id"].lower(),
        goal_id=_lower(data.get("goal_id")),
        activity_type=_text(data.get("activity_type")),
        value=_number(data.get("value", data.get("progress_delta"))),
        notes=_text(data.get("notes")) or _text(data.get("note")),
        logged_at=parse_timestamp(data.get("logged_at") or data.get("timestamp")),
    )


def activity_body(activity_type: Any, value: Any, notes: Any = None) -> dict[str, Any]:
    """The JSON body of ``POST /goals/{id}/activities`` (GOALS34), or InvalidGoalError."""
    problems: dict[str, str] = {}
    if not isinstance(activity_type, str) or not activity_type.strip():
        problems["activity_type"] = "activity_type is required, e.g. walk or check_in"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems["value"] = f"value must be a number, not {value!r}"
    if notes is not None and (not isinstance(notes, str) or len(notes) > 500):
        problems["notes"] = "notes must be text of at most 500 characters"
    body: dict[str, Any] = {"activity_type": activity_type, "value": value}
    if notes is not None:
        body["notes"] = notes
    _check_unicode(body, problems)
    _raise_if(problems, "The activity was not logged")
    body["activity_type"] = activity_type.strip()
    return body
