"""The reference server's goals routes, as the goals API 0.34 has them (PROTOCOL B9).

``POST /goals`` takes CreateGoalRequest (goal_type, title, target_value, target_unit and
start_date required; enums and minimums checked; fields it does not define ignored) and
starts the goal at ``current_value`` 0, ``progress`` 0, ``status`` active. ``GET /goals``
filters by ``type`` and ``status`` and pages with ``limit`` (1..100, default 20) and
``offset`` (any integer from 0, no cap); ``include_statistics`` adds GoalStatistics.
``PUT`` takes UpdateGoalRequest, ``PATCH .../progress`` a ``current_value`` of 0 or more,
``complete`` and ``abandon`` refuse what FITIQ32 refuses. Errors are GOALS34's (see
``wire.error_body``); a goal of another user is 403, as FITIQ32 and GAC have it.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from lume_widget.server.goal_store import GoalStatusError
from lume_widget.server.rest import _path_id, _principal, _state, discard_body, read_json
from lume_widget.server.state import ServerState
from lume_widget.server.wire import (
    ApiProblem,
    SafeJSONResponse,
    goal_json,
    no_content,
    success,
    today_utc,
)

__all__ = [
    "abandon_goal",
    "complete_goal",
    "create_goal",
    "delete_goal",
    "get_goal",
    "goal_statistics",
    "list_goals",
    "update_goal",
    "update_progress",
]

GOAL_TYPES = ("weight", "activity", "nutrition", "custom")
GOAL_STATUSES = ("active", "completed", "abandoned")
RECURRENCE_PATTERNS = ("daily", "weekly", "monthly")
# SQLite's OFFSET is a signed 64-bit integer; any offset past the end gives an empty page.
_OFFSET_CEILING = 2**62


def _invalid(message: str, code: str = "INVALID_REQUEST") -> ApiProblem:
    return ApiProblem(400, message, code=code)


def _text(body: dict[str, Any], key: str, *, low: int, high: int, nullable: bool) -> str | None:
    value = body.get(key)
    if value is None:
        if nullable:
            return None
        raise _invalid(f"{key} is required")
    if not isinstance(value, str):
        raise _invalid(f"{key} must be a string")
    value = value.strip()
    if not low <= len(value) <= high:
        raise _invalid(f"{key} must be {low} to {high} characters long")
    return value


def _amount(body: dict[str, Any], key: str, code: str = "INVALID_REQUEST") -> float:
    value = body.get(key)
    if value is None:
        raise _invalid(f"{key} is required", code)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _invalid(f"{key} must be a number", code)
    if value < 0:
        raise _invalid(f"{key} must be greater than or equal to 0", code)
    return float(value)


def _day(body: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise _invalid(f"{key} is required (YYYY-MM-DD)")
        return None
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise _invalid(f"{key} must be a date as YYYY-MM-DD")


def _choice(value: Any, key: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise _invalid(f"invalid {key}: expected one of {', '.join(allowed)}")
    return value


def _new_goal_fields(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("goal_type") is None:
        raise _invalid("goal_type is required")
    fields: dict[str, Any] = {
        "goal_type": _choice(body.get("goal_type"), "goal_type", GOAL_TYPES),
        "title": _text(body, "title", low=1, high=200, nullable=False),
        "description": _text(body, "description", low=0, high=1000, nullable=True),
        "target_value": _amount(body, "target_value", "INVALID_TARGET_VALUE"),
        "start_date": None,
    }
    unit = body.get("target_unit")
    if unit is None:
        raise _invalid("target_unit is required")
    if not isinstance(unit, str) or len(unit.strip()) > 50:
        raise _invalid("target_unit must be a string of at most 50 characters")
    fields["target_unit"] = unit.strip()
    fields["start_date"] = _day(body, "start_date", required=True)
    fields["target_date"] = _day(body, "target_date")
    recurring = body.get("is_recurring", False)
    if recurring is None:
        recurring = False
    if not isinstance(recurring, bool):
        raise _invalid("is_recurring must be a boolean")
    pattern = body.get("recurrence_pattern")
    if pattern is not None:
        pattern = _choice(pattern, "recurrence_pattern", RECURRENCE_PATTERNS)
    elif recurring:
        raise _invalid("recurrence_pattern is required if is_recurring is true")
    days = body.get("recurrence_days")
    if days is not None and (
        not isinstance(days, list)
        or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in days)
    ):
        raise _invalid("recurrence_days must be a list of integers from 0 (Sunday) to 6")
    fields.update(
        is_recurring=recurring,
        recurrence_pattern=pattern,
        recurrence_days=days,
        recurrence_end_date=_day(body, "recurrence_end_date"),
    )
    return fields


def _flag(request: Request, key: str) -> bool:
    raw = request.query_params.get(key)
    if raw is None:
        return False
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise _invalid(f"invalid {key} parameter: expected true or false")


def _int_param(request: Request, key: str, default: int, low: int, high: int | None) -> int:
    raw = request.query_params.get(key)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise _invalid(f"invalid {key} parameter: expected an integer") from None
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"of {low} or more"
        raise _invalid(f"invalid {key} parameter: expected an integer {bound}")
    return value


async def _owned_goal(request: Request) -> tuple[ServerState, dict[str, Any]]:
    state = _state(request)
    principal = _principal(request)
    goal_id = _path_id(request, "goal_id", "goal")
    goal = await state.store.goals.get(goal_id)
    if goal is None:
        raise ApiProblem(404, "goal not found", code="GOAL_NOT_FOUND")
    if goal["user_id"] != principal.user_id:
        raise ApiProblem(403, "you do not have permission to access this goal", code="FORBIDDEN")
    return state, goal


async def _answer(
    state: ServerState, goal: dict[str, Any], status: int = 200, statistics: bool = False
) -> Response:
    today = today_utc()
    stats = await goal_statistics(state, goal, today) if statistics else None
    return _success(goal_json(goal, state.profile, today, stats), state.profile, status)


def _success(data: Any, profile: str, status: int = 200) -> Response:
    """GOALS34's StandardResponse in the spec profile (``"error": null`` included)."""
    if profile == "spec":
        return SafeJSONResponse({"success": True, "data": data, "error": None}, status_code=status)
    return success(data, profile, status)


# -- routes ----------------------------------------------------------------------------------


async def create_goal(request: Request) -> Response:
    state = _state(request)
    principal = _principal(request)
    fields = _new_goal_fields(await read_json(request))
    goal = await state.store.goals.create(principal.user_id, fields)
    return await _answer(state, goal, 201)


async def list_goals(request: Request) -> Response:
    state = _state(request)
    principal = _principal(request)
    goal_type = request.query_params.get("type")
    if goal_type is not None:
        _choice(goal_type, "type", GOAL_TYPES)
    status = request.query_params.get("status")
    if status is not None:
        _choice(status, "status", GOAL_STATUSES)
    limit = _int_param(request, "limit", 20, 1, 100)
    offset = _int_param(request, "offset", 0, 0, None)
    statistics = _flag(request, "include_statistics")
    rows, total = await state.store.goals.page(
        principal.user_id,
        status=status,
        goal_type=goal_type,
        limit=limit,
        offset=min(offset, _OFFSET_CEILING),
    )
    today = today_utc()
    goals = []
    for row in rows:
        stats = await goal_statistics(state, row, today) if statistics else None
        goals.append(goal_json(row, state.profile, today, stats))
    data: dict[str, Any] = {"goals": goals, "total": total, "limit": limit, "offset": offset}
    if state.profile == "observed":
        data["has_more"] = offset + len(rows) < total
    return _success(data, state.profile)


async def get_goal(request: Request) -> Response:
    state, goal = await _owned_goal(request)
    return await _answer(state, goal, statistics=_flag(request, "include_statistics"))


async def update_goal(request: Request) -> Response:
    state, goal = await _owned_goal(request)
    body = await read_json(request)
    fields: dict[str, Any] = {}
    if body.get("title") is not None:
        fields["title"] = _text(body, "title", low=1, high=200, nullable=False)
    if "description" in body:
        fields["description"] = _text(body, "description", low=0, high=1000, nullable=True)
    if body.get("target_value") is not None:
        fields["target_value"] = _amount(body, "target_value", "INVALID_TARGET_VALUE")
    if "target_date" in body:
        fields["target_date"] = _day(body, "target_date")
    if fields:
        goal = await state.store.goals.update(goal["id"], fields)
    return await _answer(state, goal)


async def update_progress(request: Request) -> Response:
    state, goal = await _owned_goal(request)
    value = _amount(await read_json(request), "current_value")
    return await _answer(state, await state.store.goals.set_progress(goal["id"], value))


async def complete_goal(request: Request) -> Response:
    state, goal = await _owned_goal(request)
    await discard_body(request)
    try:
        done = await state.store.goals.finish(goal["id"], "completed", ("completed",))
    except GoalStatusError:
        raise _invalid("goal is already completed", "INVALID_STATUS_TRANSITION") from None
    return await _answer(state, done)


async def abandon_goal(request: Request) -> Response:
    state, goal = await _owned_goal(request)
    await discard_body(request)
    try:
        done = await state.store.goals.finish(goal["id"], "abandoned", ("abandoned", "completed"))
    except GoalStatusError:
        raise _invalid(
            "goal is already abandoned or completed", "INVALID_STATUS_TRANSITION"
        ) from None
    return await _answer(state, done)


async def delete_goal(request: Request) -> Response:
    state, goal = await _owned_goal(request)
    await state.store.goals.delete(goal["id"])
    return no_content()


# -- statistics ------------------------------------------------------------------------------


async def goal_statistics(state: ServerState, goal: dict[str, Any], today: date) -> dict[str, Any]:
    """GoalStatistics (GOALS34) from the goal and its progress updates."""
    updates = await state.store.goals.updates(goal["id"])
    target = float(goal.get("target_value") or 0.0)
    current = float(goal.get("current_value") or 0.0)
    percent = min(100.0, max(0.0, 100.0 * current / target)) if target > 0 else 0.0
    start = _parse_day(goal.get("start_date")) or today
    days_active = max(0, (today - start).days + 1)
    target_day = _parse_day(goal.get("target_date"))
    average = current / days_active if days_active else 0.0
    days = sorted({_day_of(ns) for _, ns in updates})
    current_streak = longest = run = 0
    previous: date | None = None
    for day in days:
        run = run + 1 if previous is not None and (day - previous).days == 1 else 1
        longest = max(longest, run)
        previous = day
    if days and (today - days[-1]).days <= 1:
        current_streak = run
    gains: dict[date, float] = {}
    last = 0.0
    for value, ns in updates:
        gains[_day_of(ns)] = gains.get(_day_of(ns), 0.0) + value - last
        last = value
    best = max(gains, key=lambda d: gains[d]) if gains and max(gains.values()) > 0 else None
    trend = "stable"
    if len(updates) >= 2:
        delta = updates[-1][0] - updates[-2][0]
        trend = "improving" if delta > 0 else "declining" if delta < 0 else "stable"
    estimate: str | None = None
    if goal["status"] == "active" and average > 0 and current < target:
        estimate = (today + timedelta(days=math.ceil((target - current) / average))).isoformat()
    return {
        "progress_percentage": round(percent, 2),
        "days_active": days_active,
        "days_remaining": None if target_day is None else (target_day - today).days,
        "average_daily_progress": round(average, 4),
        "current_streak": current_streak,
        "longest_streak": longest,
        "total_updates": len(updates),
        "completion_rate": round(percent / 100, 4),
        "trend": trend,
        "best_day": None if best is None else best.isoformat(),
        "estimated_completion_date": estimate,
    }


def _parse_day(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _day_of(ns: int) -> date:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).date()
