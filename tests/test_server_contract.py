"""Real answers of the reference server match its own OpenAPI document, in both profiles."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema
import pytest
from conftest import Api

from lume_widget.server import ReferenceServer

EXPECTED_PATHS = {
    "/health",
    "/ready",
    "/healthz",
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/logout",
    "/api/v1/goals",
    "/api/v1/goals/{goal_id}",
    "/api/v1/goals/{goal_id}/progress",
    "/api/v1/goals/{goal_id}/complete",
    "/api/v1/goals/{goal_id}/abandon",
    "/api/v1/goals/{goal_id}/today",
    "/api/v1/goals/{goal_id}/history",
    "/api/v1/goals/{goal_id}/tips",
    "/api/v1/goals/{goal_id}/activities",
    "/api/v1/goals/suggestions",
    "/api/v1/goals/instances/{instance_id}/progress",
    "/api/v1/consultations",
    "/api/v1/consultations/quick-actions",
    "/api/v1/consultations/{consultation_id}",
    "/api/v1/consultations/{consultation_id}/messages",
    "/api/v1/consultations/{consultation_id}/complete",
    "/api/v1/wellness/ai/chat/conversations/{consultation_id}/messages",
}


class Checker:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.checked = 0

    def check(self, template: str, method: str, response: httpx.Response) -> None:
        operation = self.document["paths"][template][method.lower()]
        spec = operation["responses"][str(response.status_code)]
        if "content" not in spec:
            assert response.content == b""
            return
        schema = spec["content"]["application/json"]["schema"]
        validator = jsonschema.Draft202012Validator(
            {**schema, "components": self.document["components"]},
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        )
        validator.validate(response.json())
        self.checked += 1


@pytest.mark.parametrize("profile", ["observed", "spec"])
async def test_server_answers_match_openapi_document(
    profile: str,
    reference_server_factory: Callable[..., ReferenceServer],
    api_factory: Callable[[ReferenceServer], Api],
) -> None:
    server = reference_server_factory(profile=profile)
    api = api_factory(server)
    document = (await api.http.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == EXPECTED_PATHS
    checker = Checker(document)
    await api.login()

    checker.check("/health", "GET", await api.http.get("/health"))
    goal = await api.request(
        "POST",
        "/api/v1/goals",
        json={
            "title": "Walk more",
            "goal_type": "activity",
            "target_value": 10000,
            "target_unit": "steps",
            "start_date": "2025-01-01",
        },
    )
    checker.check("/api/v1/goals", "POST", goal)
    goal_id = goal.json()["data"]["id"]
    one = "/api/v1/goals/{goal_id}"
    checker.check(
        "/api/v1/goals", "POST", await api.request("POST", "/api/v1/goals", json={"title": "x"})
    )
    checker.check(
        "/api/v1/goals",
        "GET",
        await api.request("GET", "/api/v1/goals", params={"include_statistics": "true"}),
    )
    checker.check(one, "GET", await api.request("GET", f"/api/v1/goals/{goal_id}"))
    checker.check(
        one,
        "PUT",
        await api.request("PUT", f"/api/v1/goals/{goal_id}", json={"target_date": "2026-01-01"}),
    )
    checker.check(
        one + "/progress",
        "PATCH",
        await api.request(
            "PATCH", f"/api/v1/goals/{goal_id}/progress", json={"current_value": 4000}
        ),
    )
    for action in ("complete", "complete", "abandon"):
        checker.check(
            one + f"/{action}",
            "POST",
            await api.request("POST", f"/api/v1/goals/{goal_id}/{action}"),
        )
    checker.check(one, "GET", await api.request("GET", f"/api/v1/goals/{uuid.uuid4()}"))
    recurring = await api.request(
        "POST",
        "/api/v1/goals",
        json={
            "title": "Walk daily",
            "goal_type": "activity",
            "target_value": 8000,
            "target_unit": "steps",
            "start_date": "2025-01-01",
            "is_recurring": True,
            "recurrence_pattern": "daily",
        },
    )
    rid = recurring.json()["data"]["id"]
    today = await api.request("GET", f"/api/v1/goals/{rid}/today")
    checker.check(one + "/today", "GET", today)
    checker.check(one + "/today", "GET", await api.request("GET", f"/api/v1/goals/{goal_id}/today"))
    checker.check(
        "/api/v1/goals/instances/{instance_id}/progress",
        "PUT",
        await api.request(
            "PUT",
            f"/api/v1/goals/instances/{today.json()['data']['id']}/progress",
            json={"current_value": 9000},
        ),
    )
    checker.check(one + "/history", "GET", await api.request("GET", f"/api/v1/goals/{rid}/history"))
    checker.check(one + "/tips", "GET", await api.request("GET", f"/api/v1/goals/{rid}/tips"))
    checker.check(
        "/api/v1/goals/suggestions", "POST", await api.request("POST", "/api/v1/goals/suggestions")
    )
    checker.check(
        one + "/activities",
        "POST",
        await api.request(
            "POST", f"/api/v1/goals/{rid}/activities", json={"activity_type": "walk", "value": 1}
        ),
    )
    checker.check(
        one + "/activities", "GET", await api.request("GET", f"/api/v1/goals/{rid}/activities")
    )
    checker.check(
        "/api/v1/consultations/quick-actions",
        "GET",
        await api.request("GET", "/api/v1/consultations/quick-actions"),
    )
    created = await api.request(
        "POST",
        "/api/v1/consultations",
        json={"persona": "general_wellness", "context_type": "goal", "context_id": goal_id},
    )
    checker.check("/api/v1/consultations", "POST", created)
    cid = created.json()["data"]["consultation"]["id"]
    item = "/api/v1/consultations/{consultation_id}"
    checker.check("/api/v1/consultations", "GET", await api.request("GET", "/api/v1/consultations"))
    checker.check(item, "GET", await api.request("GET", f"/api/v1/consultations/{cid}"))
    sent = await api.request(
        "POST", f"/api/v1/consultations/{cid}/messages", json={"content": "hello"}
    )
    checker.check(item + "/messages", "POST", sent)
    checker.check(
        item + "/messages", "GET", await api.request("GET", f"/api/v1/consultations/{cid}/messages")
    )
    checker.check(
        item + "/complete",
        "POST",
        await api.request("POST", f"/api/v1/consultations/{cid}/complete"),
    )
    checker.check(
        item + "/complete",
        "POST",
        await api.request("POST", f"/api/v1/consultations/{cid}/complete"),
    )
    checker.check(
        item + "/messages",
        "POST",
        await api.request("POST", f"/api/v1/consultations/{cid}/messages", json={"content": "x"}),
    )
    checker.check(
        "/api/v1/consultations",
        "POST",
        await api.request("POST", "/api/v1/consultations", json={"persona": "nobody"}),
    )
    checker.check(item, "GET", await api.request("GET", "/api/v1/consultations/not-a-uuid"))
    checker.check(item, "DELETE", await api.request("DELETE", f"/api/v1/consultations/{cid}"))
    checker.check(item, "DELETE", await api.request("DELETE", f"/api/v1/consultations/{cid}"))
    refreshed = await api.http.post(
        "/api/v1/auth/refresh",
        json={"refresh_token": api.refresh_token},
        headers={"X-API-Key": server.api_key},
    )
    checker.check("/api/v1/auth/refresh", "POST", refreshed)
    checker.check(
        "/api/v1/auth/refresh",
        "POST",
        await api.http.post(
            "/api/v1/auth/refresh",
            json={"refresh_token": api.refresh_token},
            headers={"X-API-Key": server.api_key},
        ),
    )
    assert checker.checked == 33  # every answer above but the empty 204
