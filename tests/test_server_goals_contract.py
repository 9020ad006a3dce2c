"""Every goals route of the reference server against the facts of the goals API (PROTOCOL B9).

Written from the facts alone, as a peer would: each assertion names what it rests on
(GOALS34 = the goals OpenAPI 0.34, FITIQ32 = the 0.32 backend spec, GAC = the iOS goals
contract and its captured payload, B9.7 = what the iOS decoder needs). Where the sources
disagree or say nothing, nothing is asserted. Both wire profiles: ``observed`` (what
production sent) and ``spec`` (GOALS34's envelopes).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from conftest import Api

from lume_widget.server import ReferenceServer

GOALS = "/api/v1/goals"
VALID = {
    "goal_type": "weight",
    "title": "Lose 10 kg",
    "description": "Weight loss goal for summer",
    "target_value": 10.0,
    "target_unit": "kg",
    "start_date": "2024-01-01",
    "target_date": "2024-06-01",
}  # GOALS34's oneTimeGoal example
REQUIRED = ["goal_type", "title", "target_value", "target_unit", "start_date"]  # GOALS34
DECODER_NEEDS = [  # B9.7: non-optional in GoalDTO
    "id", "user_id", "title", "description", "created_at", "updated_at", "progress", "status",
    "target_value", "target_unit", "current_value",
]  # fmt: skip
STATISTICS = {  # GOALS34 GoalStatistics
    "progress_percentage", "days_active", "days_remaining", "average_daily_progress",
    "current_streak", "longest_streak", "total_updates", "completion_rate", "trend", "best_day",
    "estimated_completion_date",
}  # fmt: skip
DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


class Peer:
    """A goals client that knows only B9: envelopes and errors per profile."""

    def __init__(self, api: Api, profile: str) -> None:
        self.api = api
        self.profile = profile

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.api.request(method, path, **kwargs)

    def ok(self, response: httpx.Response, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        body = response.json()
        if self.profile == "spec":  # GOALS34 StandardResponse; its examples end in "error": null
            assert body["success"] is True
            assert body["error"] is None
        else:  # observed / GAC: {"data": ...} only
            assert "success" not in body
        return body["data"]

    def error(self, response: httpx.Response, status: int) -> str:
        assert response.status_code == status, response.text
        body = response.json()
        if self.profile == "spec":  # GOALS34 ErrorResponse: error is an object
            assert body["success"] is False
            assert body["data"] is None
        assert isinstance(body["error"], dict)  # an object in GOALS34, FITIQ32, GAC alike
        message = body["error"]["message"]
        assert isinstance(message, str)
        assert message
        return message

    async def create(self, **change: Any) -> dict[str, Any]:
        body = {k: v for k, v in {**VALID, **change}.items() if v is not None}
        goal: dict[str, Any] = self.ok(await self.call("POST", GOALS, json=body), 201)
        return goal

    def day(self, value: str) -> str:
        """A goal date as either form the sources show, as YYYY-MM-DD."""
        if self.profile == "observed":
            assert DATE_ONLY.match(value), value  # observed payload, FITIQ32
            return value
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date().isoformat()  # GOALS34


@pytest.fixture(params=["observed", "spec"])
async def peer(
    request: pytest.FixtureRequest,
    reference_server_factory: Callable[..., ReferenceServer],
    api_factory: Callable[[ReferenceServer], Api],
) -> Peer:
    api = api_factory(reference_server_factory(profile=request.param))
    await api.login()
    return Peer(api, request.param)


async def test_goals_contract_create_answers_201_with_a_fresh_active_goal(peer: Peer) -> None:
    goal = await peer.create()
    assert str(uuid.UUID(goal["id"])) == goal["id"]  # a bare lower-case UUID (B2.0)
    for key in DECODER_NEEDS:
        assert goal.get(key) is not None, key
    assert goal["current_value"] == 0  # GAC: "current_value starts at 0"
    assert goal["progress"] == 0  # GAC
    assert goal["status"] == "active"  # B9.5
    assert goal["is_recurring"] is False  # default false (GOALS34)
    assert (goal["goal_type"], goal["title"], goal["target_unit"]) == ("weight", "Lose 10 kg", "kg")
    assert goal["target_value"] == 10
    assert peer.day(goal["start_date"]) == "2024-01-01"
    assert peer.day(goal["target_date"]) == "2024-06-01"
    assert RFC3339.match(goal["created_at"])
    assert RFC3339.match(goal["updated_at"])


@pytest.mark.parametrize("missing", REQUIRED)
async def test_goals_contract_create_requires_each_required_field(peer: Peer, missing: str) -> None:
    body = {k: v for k, v in VALID.items() if k != missing}
    peer.error(await peer.call("POST", GOALS, json=body), 400)


@pytest.mark.parametrize(
    "change",
    [
        {"goal_type": "sleep"},  # enum weight/activity/nutrition/custom
        {"target_value": -1},  # minimum 0
        {"title": ""},  # 1..200
        {"title": "t" * 201},
        {"description": "d" * 1001},  # <= 1000
        {"target_unit": "u" * 51},  # <= 50
        {"start_date": "01/01/2024"},  # format date
        {"is_recurring": True},  # recurrence_pattern "required if is_recurring is true"
        {"is_recurring": True, "recurrence_pattern": "hourly"},  # daily/weekly/monthly
        {"recurrence_days": [7]},  # 0..6
    ],
)
async def test_goals_contract_create_checks_enums_minimums_and_lengths(
    peer: Peer, change: dict[str, Any]
) -> None:
    peer.error(await peer.call("POST", GOALS, json={**VALID, **change}), 400)


async def test_goals_contract_create_takes_zero_targets_and_recurring_goals(peer: Peer) -> None:
    assert (await peer.create(target_value=0))["target_value"] == 0  # GOALS34 minimum: 0
    recurring = await peer.create(
        goal_type="activity",
        title="Walk daily",
        target_date=None,
        is_recurring=True,
        recurrence_pattern="weekly",
        recurrence_days=[1, 3, 5],
        recurrence_end_date="2024-12-31",
    )
    assert recurring["is_recurring"] is True
    assert recurring["recurrence_pattern"] == "weekly"
    assert recurring["recurrence_days"] == [1, 3, 5]
    assert peer.day(recurring["recurrence_end_date"]) == "2024-12-31"


async def test_goals_contract_list_pages_with_total_limit_and_offset(peer: Peer) -> None:
    made = [(await peer.create(title=f"Goal {i}"))["id"] for i in range(5)]
    first = peer.ok(await peer.call("GET", GOALS))
    assert {"goals", "total", "limit", "offset"} <= set(first)  # GOALS34
    assert "total_count" not in first  # "the key is total, not total_count"
    assert (first["total"], first["limit"], first["offset"]) == (5, 20, 0)  # default limit 20
    seen: list[str] = []
    offset = 0
    while offset < 5:
        page = peer.ok(await peer.call("GET", GOALS, params={"limit": 2, "offset": offset}))
        assert page["total"] == 5
        assert len(page["goals"]) == min(2, 5 - offset)
        if "has_more" in page:  # FITIQ32 / GAC
            assert page["has_more"] is (offset + 2 < 5)
        seen += [g["id"] for g in page["goals"]]
        offset += 2
    assert sorted(seen) == sorted(made)


async def test_goals_contract_offset_has_no_maximum(peer: Peer) -> None:
    await peer.create()
    for offset in (10**9 + 1, 10**30):  # minimum 0, no maximum (B2.12)
        page = peer.ok(await peer.call("GET", GOALS, params={"offset": offset}))
        assert page["goals"] == []
        assert page["total"] == 1


async def test_goals_contract_list_filters_by_type_and_status(peer: Peer) -> None:
    walk = await peer.create(goal_type="activity", title="Walk")
    eat = await peer.create(goal_type="nutrition", title="Eat greens")
    peer.ok(await peer.call("POST", f"{GOALS}/{eat['id']}/complete"))

    async def ids(**params: str) -> list[str]:
        page = peer.ok(await peer.call("GET", GOALS, params=params))
        assert page["total"] == len(page["goals"])  # "total (matching filters)"
        return [g["id"] for g in page["goals"]]

    assert await ids(type="activity") == [walk["id"]]
    assert await ids(status="completed") == [eat["id"]]
    assert await ids(status="active", type="nutrition") == []
    assert sorted(await ids()) == sorted([walk["id"], eat["id"]])


async def test_goals_contract_get_one_and_its_statistics(peer: Peer) -> None:
    goal = await peer.create()
    fetched = peer.ok(await peer.call("GET", f"{GOALS}/{goal['id']}"))
    assert fetched["id"] == goal["id"]
    assert fetched.get("statistics") is None  # only with include_statistics=true
    peer.ok(await peer.call("PATCH", f"{GOALS}/{goal['id']}/progress", json={"current_value": 4}))
    with_stats = peer.ok(
        await peer.call("GET", f"{GOALS}/{goal['id']}", params={"include_statistics": "true"})
    )
    statistics = with_stats["statistics"]
    assert set(statistics) == STATISTICS
    assert statistics["progress_percentage"] == pytest.approx(40)  # 0-100
    assert statistics["total_updates"] == 1
    assert statistics["trend"] in ("improving", "stable", "declining")
    listed = peer.ok(await peer.call("GET", GOALS, params={"include_statistics": "true"}))
    assert set(listed["goals"][0]["statistics"]) == STATISTICS


async def test_goals_contract_unknown_goal_is_404_on_every_route(peer: Peer) -> None:
    missing = f"{GOALS}/{uuid.uuid4()}"
    for method, path, body in [
        ("GET", missing, None),
        ("PUT", missing, {"title": "x"}),
        ("DELETE", missing, None),
        ("PATCH", missing + "/progress", {"current_value": 1}),
        ("POST", missing + "/complete", None),
        ("POST", missing + "/abandon", None),
    ]:
        message = peer.error(await peer.call(method, path, json=body), 404)
        assert "goal not found" in message.lower()  # observed text (FX-GOALS_CHAT_BACKEND_ID_FIX)


async def test_goals_contract_update_changes_only_what_it_is_given(peer: Peer) -> None:
    goal = await peer.create()
    path = f"{GOALS}/{goal['id']}"
    updated = peer.ok(await peer.call("PUT", path, json={"title": "Lose 8 kg", "target_value": 8}))
    assert (updated["title"], updated["target_value"]) == ("Lose 8 kg", 8)
    assert updated["description"] == goal["description"]
    assert peer.day(updated["target_date"]) == "2024-06-01"
    moved = peer.ok(await peer.call("PUT", path, json={"target_date": "2024-07-01"}))
    assert peer.day(moved["target_date"]) == "2024-07-01"
    assert peer.ok(await peer.call("PUT", path, json={}))["title"] == "Lose 8 kg"  # none required
    for bad in ({"title": ""}, {"target_value": -1}, {"target_date": "July"}):
        peer.error(await peer.call("PUT", path, json=bad), 400)


async def test_goals_contract_progress_takes_a_current_value_of_zero_or_more(peer: Peer) -> None:
    goal = await peer.create(goal_type="activity", target_value=10000, target_unit="steps")
    path = f"{GOALS}/{goal['id']}/progress"
    after = peer.ok(await peer.call("PATCH", path, json={"current_value": 4000}))
    assert after["current_value"] == 4000
    assert after["progress"] in (pytest.approx(0.4), pytest.approx(40))  # 0-1 (GAC) or 0-100
    for bad in ({}, {"current_value": -1}, {"current_value": "4000"}):  # required; FITIQ32 min 0
        peer.error(await peer.call("PATCH", path, json=bad), 400)


async def test_goals_contract_complete_and_abandon_refuse_what_fitiq32_refuses(peer: Peer) -> None:
    goal = await peer.create()
    done = peer.ok(await peer.call("POST", f"{GOALS}/{goal['id']}/complete"))
    assert done["status"] == "completed"
    peer.error(await peer.call("POST", f"{GOALS}/{goal['id']}/complete"), 400)  # already completed
    peer.error(await peer.call("POST", f"{GOALS}/{goal['id']}/abandon"), 400)  # ... or completed
    other = await peer.create(title="Other")
    dropped = peer.ok(await peer.call("POST", f"{GOALS}/{other['id']}/abandon"))
    assert dropped["status"] == "abandoned"
    peer.error(await peer.call("POST", f"{GOALS}/{other['id']}/abandon"), 400)


async def test_goals_contract_delete_answers_204_and_the_goal_is_gone(peer: Peer) -> None:
    goal = await peer.create()
    deleted = await peer.call("DELETE", f"{GOALS}/{goal['id']}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    peer.error(await peer.call("GET", f"{GOALS}/{goal['id']}"), 404)


async def test_goals_contract_every_route_needs_key_and_token(
    peer: Peer, api_factory: Callable[[ReferenceServer], Api]
) -> None:
    goal = await peer.create()
    stranger = api_factory(peer.api.server)
    key_only = {"X-API-Key": peer.api.server.api_key}
    token_only = {"Authorization": peer.api.headers["Authorization"]}
    routes = [
        ("POST", GOALS, VALID),
        ("GET", GOALS, None),
        ("GET", f"{GOALS}/{goal['id']}", None),
        ("PUT", f"{GOALS}/{goal['id']}", {"title": "x"}),
        ("PATCH", f"{GOALS}/{goal['id']}/progress", {"current_value": 1}),
        ("POST", f"{GOALS}/{goal['id']}/complete", None),
        ("POST", f"{GOALS}/{goal['id']}/abandon", None),
        ("DELETE", f"{GOALS}/{goal['id']}", None),
    ]
    for method, path, body in routes:
        for headers in (key_only, token_only):
            response = await stranger.http.request(method, path, json=body, headers=headers)
            peer.error(response, 401)


async def test_goals_contract_another_users_goal_is_forbidden(
    peer: Peer, api_factory: Callable[[ReferenceServer], Api]
) -> None:
    goal = await peer.create()
    other = api_factory(peer.api.server)
    registered = await other.http.post(
        "/api/v1/auth/register",
        json={
            "email": "someone-else@example.org",
            "password": "long-enough-password",
            "name": "Someone Else",
            "date_of_birth": "1990-05-15",
        },
        headers={"X-API-Key": peer.api.server.api_key},
    )
    assert registered.status_code == 201
    await other.login("someone-else@example.org", "long-enough-password")
    theirs = Peer(other, peer.profile)
    for method, path in [
        ("GET", f"{GOALS}/{goal['id']}"),
        ("DELETE", f"{GOALS}/{goal['id']}"),
        ("POST", f"{GOALS}/{goal['id']}/complete"),
        ("GET", f"{GOALS}/{goal['id']}/tips"),  # GOALS34 lists 403 for tips and activities
        ("GET", f"{GOALS}/{goal['id']}/activities"),
    ]:
        theirs.error(await theirs.call(method, path), 403)  # FITIQ32 "Not goal owner"
    assert theirs.ok(await theirs.call("GET", GOALS))["total"] == 0


# -- recurring goals' instances, suggestions, tips, activities (B9.1, B9.6) ---------------------

INSTANCE_STATUSES = ("pending", "in_progress", "completed", "missed")  # GOALS34 GoalInstance
RECURRING = {
    "goal_type": "activity",
    "title": "Walk daily",
    "target_value": 8000,
    "target_unit": "steps",
    "start_date": "2024-01-01",
    "target_date": None,
    "description": None,
    "is_recurring": True,
    "recurrence_pattern": "daily",
}


async def test_goals_contract_today_gets_or_creates_the_days_instance(peer: Peer) -> None:
    goal = await peer.create(**RECURRING)
    first = peer.ok(await peer.call("GET", f"{GOALS}/{goal['id']}/today"))
    assert first["goal_id"] == goal["id"]
    assert DATE_ONLY.match(first["instance_date"])  # format date
    assert first["status"] in INSTANCE_STATUSES
    assert first["current_value"] == 0
    assert first["target_value"] == 8000
    again = peer.ok(await peer.call("GET", f"{GOALS}/{goal['id']}/today"))
    assert again["id"] == first["id"]
    one_time = await peer.create()
    peer.error(await peer.call("GET", f"{GOALS}/{one_time['id']}/today"), 400)  # not recurring
    peer.error(await peer.call("GET", f"{GOALS}/{uuid.uuid4()}/today"), 404)


async def test_goals_contract_instance_progress_and_history(peer: Peer) -> None:
    goal = await peer.create(**RECURRING)
    today = peer.ok(await peer.call("GET", f"{GOALS}/{goal['id']}/today"))
    path = f"{GOALS}/instances/{today['id']}/progress"
    done = peer.ok(await peer.call("PUT", path, json={"current_value": 8000}))
    assert done["current_value"] == 8000
    assert done["status"] == "completed"
    peer.error(await peer.call("PUT", path, json={}), 400)  # current_value required
    peer.error(
        await peer.call(
            "PUT", f"{GOALS}/instances/{uuid.uuid4()}/progress", json={"current_value": 1}
        ),
        404,
    )
    history = peer.ok(await peer.call("GET", f"{GOALS}/{goal['id']}/history"))
    assert history["goal_id"] == goal["id"]
    assert (history["total"], history["limit"], history["offset"]) == (1, 30, 0)  # limit 30
    assert [i["id"] for i in history["instances"]] == [today["id"]]
    assert set(history["summary"]) == {
        "total_instances", "completed_count", "missed_count", "completion_rate",
        "current_streak", "longest_streak",
    }  # fmt: skip
    assert history["summary"]["completed_count"] == 1
    assert history["summary"]["current_streak"] == 1
    one_time = await peer.create()
    peer.error(await peer.call("GET", f"{GOALS}/{one_time['id']}/history"), 400)


async def test_goals_contract_suggestions_are_three_to_five_full_suggestions(peer: Peer) -> None:
    data = peer.ok(await peer.call("POST", f"{GOALS}/suggestions"))
    assert 3 <= len(data["suggestions"]) <= 5
    assert data["count"] == len(data["suggestions"])
    for suggestion in data["suggestions"]:  # SGA requires all eight
        assert set(suggestion) >= {
            "title", "description", "goal_type", "target_value", "target_unit", "rationale",
            "estimated_duration", "difficulty",
        }  # fmt: skip
        assert len(suggestion["title"]) <= 50
        assert suggestion["goal_type"] in ("weight", "activity", "nutrition", "custom")
        assert 1 <= suggestion["difficulty"] <= 5


async def test_goals_contract_tips_are_plain_strings(peer: Peer) -> None:
    goal = await peer.create()
    data = peer.ok(await peer.call("GET", f"{GOALS}/{goal['id']}/tips"))
    assert data["goal_id"] == goal["id"]
    assert 5 <= len(data["tips"]) <= 7
    assert all(isinstance(tip, str) and tip for tip in data["tips"])  # strings, not objects
    assert data["count"] == len(data["tips"])
    peer.error(await peer.call("GET", f"{GOALS}/{uuid.uuid4()}/tips"), 404)


async def test_goals_contract_activities_are_logged_and_listed(peer: Peer) -> None:
    goal = await peer.create()
    path = f"{GOALS}/{goal['id']}/activities"
    walk = peer.ok(
        await peer.call(
            "POST", path, json={"activity_type": "walk", "value": 3.5, "notes": "park"}
        ),
        201,
    )
    assert set(walk) >= {"id", "goal_id", "user_id", "activity_type", "value", "logged_at"}
    assert (walk["goal_id"], walk["activity_type"], walk["value"]) == (goal["id"], "walk", 3.5)
    peer.ok(await peer.call("POST", path, json={"activity_type": "swim", "value": 1}), 201)
    for bad in ({"value": 1}, {"activity_type": "walk"}, {**walk, "notes": "n" * 501}):
        peer.error(await peer.call("POST", path, json=bad), 400)  # GOALS34 required, notes <= 500
    page = peer.ok(await peer.call("GET", path))
    assert (page["total"], page["limit"], page["offset"]) == (2, 20, 0)  # default limit 20
    assert {a["activity_type"] for a in page["activities"]} == {"walk", "swim"}
    walks = peer.ok(await peer.call("GET", path, params={"activity_type": "walk"}))
    assert [a["id"] for a in walks["activities"]] == [walk["id"]]
    peer.error(await peer.call("GET", f"{GOALS}/{uuid.uuid4()}/activities"), 404)
