"""The client's goal methods: against the reference server in both profiles, and against
backends that page oddly (an injected httpx transport, no sockets patched)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest

from lume_widget.client import LumeClient, Settings
from lume_widget.client.auth import LumeAuth
from lume_widget.client.goals import GoalsApi
from lume_widget.errors import InvalidGoalError, InvalidIdError, NotFoundError
from lume_widget.server import ReferenceServer
from tests.hostile_servers import client_settings, connect


@pytest.fixture
def settings(time_scale: float) -> Settings:
    return client_settings(time_scale)


@pytest.mark.parametrize("profile", ["observed", "spec"])
async def test_client_goals_full_lifecycle_on_the_reference_server(
    profile: str, reference_server_factory: Callable[..., ReferenceServer], settings: Settings
) -> None:
    server = reference_server_factory(profile=profile)
    async with await connect(server, settings) as client:
        walk = await client.create_goal(
            title="Walk 10000 steps a day",
            goal_type="activity",
            target_value=10000,
            target_unit="steps",
            current_value=4000,
            target_date=date(2030, 1, 31),
        )
        assert walk.progress_percent == 40
        assert walk.label == "Walk 10000 steps a day \u00b7 40%"
        assert walk.start_date is not None  # today, by default
        assert walk.target_date == date(2030, 1, 31)
        assert walk.is_recurring is False
        assert walk.is_overdue is False
        assert walk.days_remaining is not None
        assert walk.days_remaining > 0
        eat = await client.create_goal(
            title="Eat greens",
            goal_type="nutrition",
            target_value=7,
            target_unit="servings",
            start_date="2025-01-01",
            description="One serving a day",
        )
        assert eat.current_value == 0
        assert eat.progress == 0
        assert [g.id for g in await client.list_goals(goal_type="nutrition")] == [eat.id]
        updated = await client.update_goal(eat.id, title="Eat more greens", target_value=14)
        assert (updated.title, updated.target_value, updated.description) == (
            "Eat more greens",
            14,
            "One serving a day",
        )
        cleared = await client.update_goal(eat.id, description=None)
        assert cleared.description in (None, "")
        moved = await client.update_progress(eat.id.upper(), 7)
        assert moved.progress_percent == 50
        done = await client.complete_goal(eat.id)
        assert done.status == "completed"
        assert done.completed_at is not None
        dropped = await client.abandon_goal(walk.id)
        assert dropped.status == "abandoned"
        assert [g.id for g in await client.list_goals(status="completed")] == [eat.id]
        assert (await client.get_goal(walk.id)).status == "abandoned"
        await client.delete_goal(walk.id)
        await client.delete_goal(walk.id)  # already gone: not an error
        with pytest.raises(NotFoundError):
            await client.get_goal(walk.id)
        assert [g.id for g in await client.list_goals()] == [eat.id]


async def test_client_list_goals_reads_every_page(
    reference_server: ReferenceServer, settings: Settings
) -> None:
    async with await connect(reference_server, settings) as client:
        made = [
            (
                await client.create_goal(
                    title=f"Goal {i}", goal_type="custom", target_value=1, target_unit="times"
                )
            ).id
            for i in range(5)
        ]
        assert [g.id for g in await client.list_goals()] == made
        assert [g.id for g in await GoalsApi(client.rest).list_goals(page_size=2)] == made


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"goal_type": "activity", "target_value": 1, "target_unit": "x"}, {"title"}),
        ({"title": "Walk", "target_value": 1, "target_unit": "x"}, {"goal_type"}),
        (
            {"title": "Walk", "goal_type": "sleep", "target_value": 1, "target_unit": "x"},
            {"goal_type"},
        ),
        ({"title": "Walk", "goal_type": "activity", "target_unit": "x"}, {"target_value"}),
        (
            {"title": "Walk", "goal_type": "activity", "target_value": -5, "target_unit": "x"},
            {"target_value"},
        ),
        ({"title": "Walk", "goal_type": "activity", "target_value": 5}, {"target_unit"}),
        (
            {
                "title": "Walk",
                "goal_type": "activity",
                "target_value": 5,
                "target_unit": "x",
                "current_value": -1,
            },
            {"current_value"},
        ),
    ],
)
async def test_client_create_goal_refuses_bad_input_before_sending(
    fields: dict[str, Any], bad: set[str], settings: Settings
) -> None:
    backend = FakeGoals([])
    async with backend.client(settings) as client:
        with pytest.raises(InvalidGoalError) as caught:
            await client.create_goal(**fields)
    assert set(caught.value.problems) == bad
    assert backend.requests == []


async def test_client_goal_methods_refuse_bad_ids_and_values_before_sending(
    settings: Settings,
) -> None:
    backend = FakeGoals([])
    async with backend.client(settings) as client:
        with pytest.raises(InvalidIdError):
            await client.update_progress("local-goal-1", 3)
        with pytest.raises(InvalidGoalError):
            await client.update_progress("0b6a39e4-5f37-4a7e-9a34-3d5f0c2a1b01", -3)
        with pytest.raises(InvalidGoalError, match="nothing to update"):
            await client.update_goal("0b6a39e4-5f37-4a7e-9a34-3d5f0c2a1b01")
        with pytest.raises(InvalidGoalError):
            await client.list_goals(status="paused")
    assert backend.requests == []


def _goals(count: int) -> list[dict[str, Any]]:
    return [
        {"id": f"00000000-0000-4000-8000-{i:012d}", "title": f"G{i}", "progress": 0.5}
        for i in range(count)
    ]


class FakeGoals:
    """A backend's ``GET /goals`` with a chosen paging behaviour, over httpx.MockTransport."""

    def __init__(
        self,
        goals: list[dict[str, Any]],
        *,
        shape: str = "spec",
        max_limit: int = 100,
        ignore_offset: bool = False,
    ) -> None:
        self.goals = goals
        self.shape = shape
        self.max_limit = max_limit
        self.ignore_offset = ignore_offset
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        limit = min(int(request.url.params.get("limit", "20")), self.max_limit)
        offset = 0 if self.ignore_offset else int(request.url.params.get("offset", "0"))
        page = self.goals[offset : offset + limit]
        more = offset + len(page) < len(self.goals)
        data: Any = {
            "spec": {"goals": page, "total": len(self.goals), "limit": limit, "offset": offset},
            "gac": {"goals": page, "total": len(self.goals), "has_more": more},
            "older": {"goals": page, "total_count": len(self.goals)},
            "bare": page,
        }[self.shape]
        return httpx.Response(200, content=json.dumps({"data": data}))

    def client(self, settings: Settings) -> LumeClient:
        auth = LumeAuth("key", access_token="token")
        return LumeClient(
            "http://backend.test",
            auth,
            settings=settings,
            transport=httpx.MockTransport(self.handle),
        )


@pytest.mark.parametrize(
    ("options", "calls"),
    [
        ({"shape": "spec"}, 3),
        ({"shape": "gac"}, 3),
        ({"shape": "older"}, 3),
        ({"shape": "spec", "max_limit": 50}, 5),  # a backend capping limit lower still pages on
        ({"shape": "gac", "max_limit": 50}, 5),
        ({"shape": "spec", "ignore_offset": True}, 2),  # the same page again ends the loop
    ],
)
async def test_client_list_goals_pages_any_backend_to_the_end(
    options: dict[str, Any], calls: int, settings: Settings
) -> None:
    backend = FakeGoals(_goals(250), **options)
    async with backend.client(settings) as client:
        goals = await client.list_goals()
    expected = 100 if options.get("ignore_offset") else 250
    assert len({g.id for g in goals}) == len(goals) == expected
    assert len(backend.requests) == calls
    assert all(g.progress_percent == 50 for g in goals)


async def test_client_list_goals_stops_on_a_short_page_without_total(settings: Settings) -> None:
    backend = FakeGoals(_goals(130), shape="bare")
    async with backend.client(settings) as client:
        assert len(await client.list_goals()) == 130
    assert [r.url.params["offset"] for r in backend.requests] == ["0", "100"]


@pytest.mark.parametrize("profile", ["observed", "spec"])
async def test_client_recurring_goal_days_tips_suggestions_and_activities(
    profile: str, reference_server_factory: Callable[..., ReferenceServer], settings: Settings
) -> None:
    server = reference_server_factory(profile=profile)
    async with await connect(server, settings) as client:
        walk = await client.create_goal(
            title="Walk daily",
            goal_type="activity",
            target_value=8000,
            target_unit="steps",
            is_recurring=True,
            recurrence_pattern="daily",
            recurrence_days=[1, 3, 5],
        )
        assert walk.is_recurring is True
        assert walk.recurrence_days == (1, 3, 5)
        today = await client.goal_today(walk.id)
        assert (today.goal_id, today.current_value, today.status) == (walk.id, 0, "pending")
        assert today.instance_date is not None
        done = await client.update_instance_progress(today.id, 8000)
        assert done.status == "completed"
        history = await client.goal_history(walk.id, start=today.instance_date)
        assert [i.id for i in history.instances] == [today.id]
        assert history.summary["completed_count"] == 1
        assert history.total == 1
        tips = await client.goal_tips(walk.id)
        assert 5 <= len(tips) <= 7
        assert "Walk daily" in tips[0]
        suggestions = await client.goal_suggestions()
        assert 3 <= len(suggestions) <= 5
        assert all(s.title and s.goal_type for s in suggestions)
        logged = await client.log_activity(walk.id, "walk", 2.5, notes="along the river")
        assert (logged.activity_type, logged.value, logged.notes) == (
            "walk",
            2.5,
            "along the river",
        )
        await client.log_activity(walk.id, "stretch", 1)
        assert [a.id for a in await client.list_activities(walk.id, "walk")] == [logged.id]
        assert len(await client.list_activities(walk.id)) == 2
        with pytest.raises(InvalidGoalError):
            await client.log_activity(walk.id, "", 1)
        with pytest.raises(InvalidGoalError):
            await client.goal_history(walk.id, start="last week")
