"""The rest of the goals API (PROTOCOL B9.1, B9.6): recurring goals' daily instances and their
history, AI goal suggestions and tips, and a goal's activity log.

``GET /goals/{id}/today`` gets or creates today's instance of a recurring goal (400 for a
one-time goal); ``PUT /goals/instances/{id}/progress`` records its ``current_value``;
``GET /goals/{id}/history`` pages its instances, newest first, with a summary. An instance
is ``completed`` once its value reaches the target, ``missed`` when its day passed before
that, else ``in_progress`` or ``pending``. Suggestions and tips are scripted (no model is
needed) and depend on the user's goals: suggestions offer types the user has few goals of,
tips speak of the goal's title and target. Activities follow GOALS34 (``activity_type`` and
``value`` required, ``notes`` up to 500 characters).
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from lume_widget.server.goals import (
    _OFFSET_CEILING,
    _amount,
    _day,
    _int_param,
    _invalid,
    _owned_goal,
    _success,
)
from lume_widget.server.rest import _path_id, _principal, _state, discard_body, read_json
from lume_widget.server.wire import ApiProblem, format_timestamp, today_utc

__all__ = [
    "add_activity",
    "goal_history",
    "goal_tips",
    "goal_today",
    "list_activities",
    "suggest_goals",
    "update_instance_progress",
]

SUGGESTIONS: tuple[dict[str, Any], ...] = (
    {"title": "Walk 8000 steps a day", "description": "A daily walk, counted in steps.",
     "goal_type": "activity", "target_value": 8000, "target_unit": "steps",
     "rationale": "Regular walking lifts energy and mood with little strain.",
     "estimated_duration": 30, "difficulty": 2},
    {"title": "Eat five servings of vegetables", "description": "Vegetables at every meal.",
     "goal_type": "nutrition", "target_value": 5, "target_unit": "servings",
     "rationale": "Fibre and micronutrients keep you full and steady through the day.",
     "estimated_duration": 30, "difficulty": 2},
    {"title": "Drink 2 litres of water a day", "description": "Water through the day.",
     "goal_type": "nutrition", "target_value": 2, "target_unit": "litres",
     "rationale": "Even mild dehydration shows up as tiredness and headaches.",
     "estimated_duration": 21, "difficulty": 1},
    {"title": "Lose 3 kg", "description": "A gentle, steady loss.",
     "goal_type": "weight", "target_value": 3, "target_unit": "kg",
     "rationale": "Small, steady losses are the ones that last.",
     "estimated_duration": 60, "difficulty": 3},
    {"title": "Meditate 10 minutes a day", "description": "A short daily pause.",
     "goal_type": "custom", "target_value": 10, "target_unit": "minutes",
     "rationale": "A short daily practice lowers stress more than a long rare one.",
     "estimated_duration": 21, "difficulty": 2},
    {"title": "Strength training twice a week", "description": "Two short sessions.",
     "goal_type": "activity", "target_value": 2, "target_unit": "sessions",
     "rationale": "Muscle protects joints and metabolism as the years go by.",
     "estimated_duration": 42, "difficulty": 3},
)  # fmt: skip

TIPS: dict[str, tuple[str, ...]] = {
    "activity": (
        "Put the activity in your calendar like a meeting.",
        "Start below your target and build up by about 10% a week.",
        "Pair it with something you already do every day.",
        "Keep your shoes and kit where you will see them.",
        "Count a short session as a win: showing up is the habit.",
        "Rest days are part of the plan, not a break from it.",
    ),
    "nutrition": (
        "Plan tomorrow's meals tonight.",
        "Keep the good option within reach and the others out of sight.",
        "Change one meal at a time, starting with breakfast.",
        "Shop with a list, and not when hungry.",
        "Cook a double portion and keep one for a busy day.",
        "Notice hunger before you eat: rate it from 1 to 10.",
    ),
    "weight": (
        "Weigh at the same time of day, at most once a week.",
        "Aim for about half a kilo a week; faster rarely lasts.",
        "Protein at each meal keeps you full for longer.",
        "Sleep matters: short nights raise appetite the next day.",
        "Track the trend over weeks, not the number on one day.",
        "Move a little more every day, not a lot once a week.",
    ),
    "custom": (
        "Decide exactly when and where you will do it.",
        "Make the first step so small that you cannot say no.",
        "Track it where you will see it every day.",
        "Tell someone about the goal: it helps you keep it.",
        "If you miss a day, never miss two in a row.",
        "Review the goal each week and adjust the target if needed.",
    ),
}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def instance_json(row: dict[str, Any], profile: str, today: date) -> dict[str, Any]:
    """A GoalInstance (GOALS34) with FITIQ32's ``progress``; the status follows from the values."""
    target, current = float(row["target_value"]), float(row["current_value"])
    if (target > 0 and current >= target) or (target == 0 and current > 0):
        status = "completed"
    elif row["instance_date"] < today.isoformat():
        status = "missed"
    else:
        status = "in_progress" if current > 0 else "pending"
    return {
        "id": row["id"],
        "goal_id": row["goal_id"],
        "instance_date": row["instance_date"],
        "target_value": target,
        "current_value": current,
        "progress": round(min(1.0, current / target), 4) if target > 0 else 0.0,
        "status": status,
        "created_at": format_timestamp(row["created_at"], profile),
        "updated_at": format_timestamp(row["updated_at"], profile),
    }


def _recurring(goal: dict[str, Any]) -> None:
    if not goal.get("is_recurring"):
        raise _invalid("goal is not recurring: only recurring goals have daily instances")


async def goal_today(request: Request) -> Response:
    state, goal = await _owned_goal(request)
    _recurring(goal)
    today = today_utc()
    row = await state.store.goals.instance_for(goal, today.isoformat())
    return _success(instance_json(row, state.profile, today), state.profile)


async def update_instance_progress(request: Request) -> Response:
    state = _state(request)
    principal = _principal(request)
    instance_id = _path_id(request, "instance_id", "instance")
    row = await state.store.goals.instance(instance_id)
    goal = None if row is None else await state.store.goals.get(row["goal_id"])
    if row is None or goal is None:
        raise ApiProblem(404, "goal instance not found", code="NOT_FOUND")
    if goal["user_id"] != principal.user_id:
        raise ApiProblem(403, "you do not have permission to access this goal", code="FORBIDDEN")
    value = _amount(await read_json(request), "current_value")
    updated = await state.store.goals.set_instance_progress(instance_id, value)
    return _success(instance_json(updated, state.profile, today_utc()), state.profile)


async def goal_history(request: Request) -> Response:
    state, goal = await _owned_goal(request)
    _recurring(goal)
    query = dict(request.query_params)
    start = _day(query, "from") or _day(query, "start_date")  # FITIQ32 names them so
    end = _day(query, "to") or _day(query, "end_date")
    limit = _int_param(request, "limit", 30, 1, 100)
    offset = _int_param(request, "offset", 0, 0, None)
    today = today_utc()
    everything = [
        instance_json(r, state.profile, today)
        for r in await state.store.goals.instances(goal["id"], start, end)
    ]
    page = everything[min(offset, _OFFSET_CEILING) :][:limit]
    completed = sum(1 for i in everything if i["status"] == "completed")
    missed = sum(1 for i in everything if i["status"] == "missed")
    current = longest = run = 0
    previous: date | None = None
    for item in reversed(everything):  # oldest first
        day = date.fromisoformat(item["instance_date"])
        if item["status"] != "completed":
            run, previous = 0, None
            continue
        run = run + 1 if previous is not None and (day - previous).days == 1 else 1
        longest, previous = max(longest, run), day
    if previous is not None and (today - previous).days <= 1:
        current = run
    summary = {
        "total_instances": len(everything),
        "completed_count": completed,
        "missed_count": missed,
        "completion_rate": round(completed / len(everything), 4) if everything else 0.0,
        "current_streak": current,
        "longest_streak": longest,
    }
    data = {
        "goal_id": goal["id"],
        "instances": page,
        "summary": summary,
        "total": len(everything),
        "limit": limit,
        "offset": offset,
    }
    return _success(data, state.profile)


async def suggest_goals(request: Request) -> Response:
    state = _state(request)
    principal = _principal(request)
    await discard_body(request)
    rows, _ = await state.store.goals.page(
        principal.user_id, status=None, goal_type=None, limit=100, offset=0
    )
    titles = {str(r["title"]).lower() for r in rows}
    held = {t: sum(1 for r in rows if r.get("goal_type") == t) for t in TIPS}
    fresh = [s for s in SUGGESTIONS if s["title"].lower() not in titles]
    fresh.sort(key=lambda s: held.get(s["goal_type"], 0))  # stable: file order within a count
    suggestions = [dict(s) for s in fresh[:4]] or [dict(s) for s in SUGGESTIONS[:3]]
    return _success({"suggestions": suggestions, "count": len(suggestions)}, state.profile)


async def goal_tips(request: Request) -> Response:
    state, goal = await _owned_goal(request)
    kind = goal.get("goal_type") if goal.get("goal_type") in TIPS else "custom"
    target = float(goal.get("target_value") or 0)
    unit = goal.get("target_unit") or ""
    first = f'For "{goal["title"]}", break {_number(target)} {unit} into small daily steps.'
    tips = [" ".join(first.split()), *TIPS[str(kind)]]
    return _success({"goal_id": goal["id"], "tips": tips, "count": len(tips)}, state.profile)


async def add_activity(request: Request) -> Response:
    state, goal = await _owned_goal(request)
    body = await read_json(request)
    kind = body.get("activity_type")
    if not isinstance(kind, str) or not kind.strip():
        raise _invalid("activity_type is required")
    value = body.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _invalid("value is required and must be a number")
    notes = body.get("notes")
    if notes is not None and (not isinstance(notes, str) or len(notes) > 500):
        raise _invalid("notes must be a string of at most 500 characters")
    row = await state.store.goals.add_activity(
        goal, {"activity_type": kind.strip(), "value": float(value), "notes": notes}
    )
    return _success(activity_json(row, state.profile), state.profile, 201)


async def list_activities(request: Request) -> Response:
    state, goal = await _owned_goal(request)
    kind = request.query_params.get("activity_type")
    limit = _int_param(request, "limit", 20, 1, 100)
    offset = _int_param(request, "offset", 0, 0, None)
    rows, total = await state.store.goals.activities(
        goal["id"], kind, limit, min(offset, _OFFSET_CEILING)
    )
    data: dict[str, Any] = {
        "activities": [activity_json(r, state.profile) for r in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }
    if state.profile == "observed":
        data["has_more"] = offset + len(rows) < total  # SGA
    return _success(data, state.profile)


def activity_json(row: dict[str, Any], profile: str) -> dict[str, Any]:
    """A GoalActivity (GOALS34)."""
    body = {
        "id": row["id"],
        "goal_id": row["goal_id"],
        "user_id": row["user_id"],
        "activity_type": row["activity_type"],
        "value": row["value"],
        "notes": row.get("notes"),
        "logged_at": format_timestamp(row["logged_at"], profile),
        "created_at": format_timestamp(row["created_at"], profile),
    }
    if profile == "observed" and body["notes"] is None:
        del body["notes"]
    return body
