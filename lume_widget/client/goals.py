"""The goals API of one backend (PROTOCOL B9): list every page, create, update, progress, finish.

Each call is checked before it is sent (:mod:`lume_widget.core.goals`) and decoded
liberally after; :class:`~lume_widget.client.lume_client.LumeClient` exposes these as its
goal methods. Paging follows ``limit``/``offset`` until ``total`` goals have arrived, a
page comes back short, the backend says there are no more, or a page brings nothing new
(a backend that ignores ``offset`` must not cause an endless loop).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Any, Protocol, TypeVar

from lume_widget.client.rest import RestApi
from lume_widget.core.goals import (
    GOAL_STATUSES,
    GOAL_TYPES,
    UNSET,
    GoalActivity,
    GoalHistory,
    GoalInstance,
    GoalSuggestion,
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
from lume_widget.core.wire import normalize_id
from lume_widget.errors import InvalidGoalError, LumeError

__all__ = ["GoalsApi"]

logger = logging.getLogger(__name__)

GOALS = "/api/v1/goals"


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


_Item = TypeVar("_Item", bound=_Identified)
PAGE_SIZE = 100  # the largest page every source allows (B9.3)


class GoalsApi:
    """Goal calls over one :class:`RestApi` (which retries and maps errors)."""

    def __init__(self, rest: RestApi) -> None:
        self.rest = rest

    async def list_goals(
        self,
        status: str | None = None,
        goal_type: str | None = None,
        *,
        page_size: int = PAGE_SIZE,
    ) -> list[Goal]:
        """Every goal of the user (all pages), optionally only one status and/or type."""
        problems: dict[str, str] = {}
        if status is not None and status not in GOAL_STATUSES:
            problems["status"] = f"status must be one of {', '.join(GOAL_STATUSES)}"
        if goal_type is not None and goal_type not in GOAL_TYPES:
            problems["goal_type"] = f"goal_type must be one of {', '.join(GOAL_TYPES)}"
        if not 1 <= page_size <= 100:
            problems["page_size"] = "page_size must be 1 to 100"
        if problems:
            raise InvalidGoalError(
                "The goals were not listed: " + "; ".join(problems.values()) + ".",
                problems=problems,
            )
        goals: list[Goal] = []
        seen: set[str] = set()
        offset = 0
        while True:
            params = {"status": status, "type": goal_type, "limit": page_size, "offset": offset}
            outcome = await self.rest.request("GET", GOALS, params=params)
            page = goal_page_from_json(outcome.data)
            fresh = [g for g in page.goals if g.id not in seen]
            seen.update(g.id for g in fresh)
            goals.extend(fresh)
            offset += page.size
            if not fresh:
                return goals
            if page.total is not None:  # a server capping limit lower still pages on
                if offset >= page.total:
                    return goals
            elif page.has_more is not None:
                if not page.has_more:
                    return goals
            elif page.size < page_size:
                return goals

    async def get(self, goal_id: str) -> Goal:
        """One goal by its server id."""
        gid = normalize_id(goal_id, "Goal")
        outcome = await self.rest.request("GET", f"{GOALS}/{gid}")
        return _goal(outcome.data, "reading the goal")

    async def create(
        self,
        *,
        title: Any = None,
        goal_type: Any = None,
        target_value: Any = None,
        target_unit: Any = None,
        start_date: date | str | None = None,
        target_date: date | str | None = None,
        description: str | None = None,
        current_value: float | None = None,
        is_recurring: bool = False,
        recurrence_pattern: str | None = None,
        recurrence_days: list[int] | tuple[int, ...] | None = None,
        recurrence_end_date: date | str | None = None,
    ) -> Goal:
        """Create a goal; ``start_date`` defaults to today (UTC), as the iOS app sends it.

        The backend starts every goal at ``current_value`` 0; a ``current_value`` given
        here is recorded right after with :meth:`update_progress`.
        """
        body = new_goal_body(
            title=title,
            goal_type=goal_type,
            target_value=target_value,
            target_unit=target_unit,
            start_date=start_date if start_date is not None else _today(),
            description=description,
            target_date=target_date,
            is_recurring=is_recurring,
            recurrence_pattern=recurrence_pattern,
            recurrence_days=recurrence_days,
            recurrence_end_date=recurrence_end_date,
        )
        progress = None if current_value is None else progress_body(current_value)
        outcome = await self.rest.request("POST", GOALS, json=body)
        goal = _goal(outcome.data, "creating a goal")
        if progress is not None and progress["current_value"] != goal.current_value:
            goal = await self.update_progress(goal.id, progress["current_value"])
        return goal

    async def update(
        self,
        goal_id: str,
        *,
        title: Any = UNSET,
        description: Any = UNSET,
        target_value: Any = UNSET,
        target_date: Any = UNSET,
    ) -> Goal:
        """Change a goal's title, description, target value or target date (None clears the last two)."""
        gid = normalize_id(goal_id, "Goal")
        body = goal_update_body(
            title=title, description=description, target_value=target_value, target_date=target_date
        )
        outcome = await self.rest.request("PUT", f"{GOALS}/{gid}", json=body)
        return _goal(outcome.data, "updating the goal")

    async def update_progress(self, goal_id: str, current_value: float) -> Goal:
        """Record where the user is now (``current_value``, 0 or more)."""
        gid = normalize_id(goal_id, "Goal")
        body = progress_body(current_value)
        outcome = await self.rest.request("PATCH", f"{GOALS}/{gid}/progress", json=body)
        return _goal(outcome.data, "recording progress")

    async def complete(self, goal_id: str) -> Goal:
        """Mark a goal completed."""
        gid = normalize_id(goal_id, "Goal")
        outcome = await self.rest.request("POST", f"{GOALS}/{gid}/complete")
        return _goal(outcome.data, "completing the goal")

    async def abandon(self, goal_id: str) -> Goal:
        """Mark a goal abandoned."""
        gid = normalize_id(goal_id, "Goal")
        outcome = await self.rest.request("POST", f"{GOALS}/{gid}/abandon")
        return _goal(outcome.data, "abandoning the goal")

    # -- recurring goals' instances, suggestions, tips, activities (B9.6) -------------------

    async def today(self, goal_id: str) -> GoalInstance:
        """Today's instance of a recurring goal (the backend creates it on first ask)."""
        gid = normalize_id(goal_id, "Goal")
        outcome = await self.rest.request("GET", f"{GOALS}/{gid}/today")
        return _instance(outcome.data, "reading today's instance")

    async def update_instance_progress(
        self, instance_id: str, current_value: float
    ) -> GoalInstance:
        """Record one day's value of a recurring goal (0 or more)."""
        iid = normalize_id(instance_id, "Goal instance")
        body = progress_body(current_value)
        outcome = await self.rest.request("PUT", f"{GOALS}/instances/{iid}/progress", json=body)
        return _instance(outcome.data, "recording the day's progress")

    async def history(
        self, goal_id: str, start: date | str | None = None, end: date | str | None = None
    ) -> GoalHistory:
        """Every instance of a recurring goal from ``start`` to ``end`` (all pages) and the summary."""
        gid = normalize_id(goal_id, "Goal")
        problems: dict[str, str] = {}
        bounds = {k: parse_goal_date(v) for k, v in (("from", start), ("to", end)) if v is not None}
        for key, day in bounds.items():
            if day is None:
                problems[key] = (
                    f"{'start' if key == 'from' else 'end'} must be a date as YYYY-MM-DD"
                )
        if problems:
            raise InvalidGoalError(
                "The history was not read: " + "; ".join(problems.values()) + ".",
                problems=problems,
            )
        params: dict[str, Any] = {k: v.isoformat() for k, v in bounds.items() if v is not None}
        path = f"{GOALS}/{gid}/history"
        instances, last = await self._every_page(path, "instances", instance_from_json, params)
        summary = last.get("summary")
        total = last.get("total")
        return GoalHistory(
            gid,
            tuple(instances),
            dict(summary) if isinstance(summary, dict) else {},
            total if isinstance(total, int) else None,
        )

    async def suggestions(self) -> list[GoalSuggestion]:
        """Goals the backend suggests from the user's data (the real one may take 10-30 s)."""
        outcome = await self.rest.request("POST", f"{GOALS}/suggestions")
        return suggestions_from_json(outcome.data)

    async def tips(self, goal_id: str) -> list[str]:
        """Tips for reaching a goal, as plain sentences."""
        gid = normalize_id(goal_id, "Goal")
        outcome = await self.rest.request("GET", f"{GOALS}/{gid}/tips")
        return tips_from_json(outcome.data)

    async def log_activity(
        self, goal_id: str, activity_type: str, value: float, notes: str | None = None
    ) -> GoalActivity:
        """Log an activity on a goal (``activity_type`` any text, ``value`` a number)."""
        gid = normalize_id(goal_id, "Goal")
        body = activity_body(activity_type, value, notes)
        outcome = await self.rest.request("POST", f"{GOALS}/{gid}/activities", json=body)
        activity = activity_from_json(outcome.data)
        if activity is None:
            raise LumeError("The backend's answer to logging an activity had no activity id.")
        return activity

    async def activities(
        self, goal_id: str, activity_type: str | None = None
    ) -> list[GoalActivity]:
        """Every logged activity of a goal (all pages), newest first, optionally of one type."""
        gid = normalize_id(goal_id, "Goal")
        params = {"activity_type": activity_type}
        path = f"{GOALS}/{gid}/activities"
        found, _ = await self._every_page(path, "activities", activity_from_json, params)
        return found

    async def _every_page(
        self,
        path: str,
        key: str,
        parse: Callable[[Any], _Item | None],
        params: dict[str, Any],
    ) -> tuple[list[_Item], dict[str, Any]]:
        """Every item under ``key`` of a paged answer, and the last page's data.

        Pages until ``total`` items, a short page, ``has_more`` false, or nothing new.
        """
        found: list[_Item] = []
        seen: set[str] = set()
        while True:
            query = {**params, "limit": PAGE_SIZE, "offset": len(found)}
            outcome = await self.rest.request("GET", path, params=query)
            data: dict[str, Any] = outcome.data if isinstance(outcome.data, dict) else {}
            items = data.get(key)
            page = [x for x in map(parse, items if isinstance(items, list) else []) if x]
            fresh = [x for x in page if x.id not in seen]
            seen.update(x.id for x in fresh)
            found.extend(fresh)
            total = data.get("total")
            if (
                not fresh
                or len(page) < PAGE_SIZE
                or data.get("has_more") is False
                or (isinstance(total, int) and len(found) >= total)
            ):
                return found, data

    async def delete(self, goal_id: str) -> None:
        """Delete a goal for good; deleting one already gone is not an error."""
        gid = normalize_id(goal_id, "Goal")
        await self.rest.request("DELETE", f"{GOALS}/{gid}", allow=(404,))


def _goal(data: Any, what: str) -> Goal:
    goal = goal_from_json(data)
    if goal is None:
        raise LumeError(
            f"The backend's answer to {what} had no goal id; it may not be a Lume backend."
        )
    return goal


def _instance(data: Any, what: str) -> GoalInstance:
    instance = instance_from_json(data)
    if instance is None:
        raise LumeError(f"The backend's answer to {what} had no instance id.")
    return instance


def _today() -> date:
    return datetime.now(timezone.utc).date()
