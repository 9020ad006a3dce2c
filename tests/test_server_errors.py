"""Every error status of the reference server, in the right shape, with nothing half-written."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import websockets
from conftest import Api, scaled, ws_events

from lume_widget.server import ReferenceServer

MISSING = "00000000-0000-4000-8000-000000000000"


async def second_user(api: Api, api_factory: Callable[[ReferenceServer], Api]) -> Api:
    other = api_factory(api.server)
    response = await other.http.post(
        "/api/v1/auth/register",
        json={
            "email": "other@example.org",
            "password": "another-password",
            "name": "Other",
            "date_of_birth": "1990-04-01",
        },
        headers={"X-API-Key": api.server.api_key},
    )
    assert response.status_code == 201, response.text
    await other.login("other@example.org", "another-password")
    return other


async def test_server_missing_or_wrong_api_key_is_401(api: Api) -> None:
    missing = await api.http.get(
        "/api/v1/consultations", headers={"Authorization": f"Bearer {api.access_token}"}
    )
    assert missing.status_code == 401
    assert "X-API-Key" in missing.json()["error"]["message"]
    wrong = await api.request("GET", "/api/v1/consultations", headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401
    login = await api.http.post("/api/v1/auth/login", json={"email": "a@b.c", "password": "x" * 8})
    assert login.status_code == 401


async def test_server_missing_or_invalid_token_is_401(api: Api) -> None:
    no_token = await api.http.get(
        "/api/v1/consultations", headers={"X-API-Key": api.server.api_key}
    )
    assert no_token.status_code == 401
    bad = await api.request(
        "GET", "/api/v1/consultations", headers={"Authorization": "Bearer not.a.jwt"}
    )
    assert bad.status_code == 401
    assert bad.json()["error"]["message"].startswith("invalid access token")


async def test_server_wrong_password_is_401(api: Api) -> None:
    response = await api.http.post(
        "/api/v1/auth/login",
        json={"email": api.server.email, "password": "wrong-password"},
        headers={"X-API-Key": api.server.api_key},
    )
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "invalid email or password"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"persona": "pirate"}, "Invalid persona"),
        ({}, "Invalid persona"),
        ({"persona": 7}, "Invalid persona"),
        ({"persona": "nutritionist", "context_type": "dream"}, "invalid context_type"),
        ({"persona": "nutritionist", "context_type": "goal"}, "context_id"),
        (
            {"persona": "nutritionist", "initial_message": "   "},
            "initial_message must be 1 to 5000",
        ),
        (
            {"persona": "nutritionist", "initial_message": "x" * 5001},
            "initial_message must be 1 to 5000",
        ),
        ({"persona": "nutritionist", "quick_action": 5}, "quick_action must be a string"),
    ],
)
async def test_server_create_rejects_bad_input_with_400(
    api: Api, body: dict[str, object], message: str
) -> None:
    response = await api.request("POST", "/api/v1/consultations", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(message)
    listed = await api.data("GET", "/api/v1/consultations")
    assert listed["total_count"] == 0


async def test_server_malformed_json_and_ids_are_400(api: Api) -> None:
    broken = await api.request(
        "POST",
        "/api/v1/consultations",
        content=b"{persona:",
        headers={"Content-Type": "application/json"},
    )
    assert broken.status_code == 400
    assert broken.json()["error"]["message"] == "request body is not valid JSON"
    not_object = await api.request("POST", "/api/v1/consultations", json=["nutritionist"])
    assert not_object.status_code == 400
    for path in (
        "/api/v1/consultations/not-a-uuid",
        "/api/v1/consultations/123/messages",
        "/api/v1/goals/xyz",
    ):
        response = await api.request("GET", path)
        assert response.status_code == 400, path
        assert "expected a UUID" in response.json()["error"]["message"]


async def test_server_unknown_ids_are_404(api: Api) -> None:
    for method, path in [
        ("GET", f"/api/v1/consultations/{MISSING}"),
        ("DELETE", f"/api/v1/consultations/{MISSING}"),
        ("GET", f"/api/v1/consultations/{MISSING}/messages"),
        ("POST", f"/api/v1/consultations/{MISSING}/complete"),
        ("GET", f"/api/v1/goals/{MISSING}"),
    ]:
        response = await api.request(method, path)
        assert response.status_code == 404, (method, path)
    goal = await api.request(
        "POST",
        "/api/v1/consultations",
        json={"persona": "wellness_specialist", "context_type": "goal", "context_id": MISSING},
    )
    assert goal.status_code == 404
    assert goal.json() == {"error": {"message": "goal not found", "code": "GOAL_NOT_FOUND"}}
    route = await api.request("GET", "/api/v1/nothing-here")
    assert route.status_code == 404


async def test_server_delete_twice_is_404(api: Api) -> None:
    cid = (await api.create())["consultation"]["id"]
    assert (await api.request("DELETE", f"/api/v1/consultations/{cid}")).status_code == 204
    again = await api.request("DELETE", f"/api/v1/consultations/{cid}")
    assert again.status_code == 404
    assert again.json()["error"]["message"] == "consultation not found"


async def test_server_other_users_consultation_is_403(
    api: Api, api_factory: Callable[[ReferenceServer], Api]
) -> None:
    cid = (await api.create())["consultation"]["id"]
    other = await second_user(api, api_factory)
    for method, path in [
        ("GET", f"/api/v1/consultations/{cid}"),
        ("GET", f"/api/v1/consultations/{cid}/messages"),
        ("DELETE", f"/api/v1/consultations/{cid}"),
    ]:
        response = await other.request(method, path)
        assert response.status_code == 403, (method, path)
    send = await other.request(
        "POST", f"/api/v1/consultations/{cid}/messages", json={"content": "hi"}
    )
    assert send.status_code == 403
    assert len(await api.messages(cid)) == 1  # the greeting only
    with pytest.raises(websockets.InvalidStatus) as caught:
        async with other.ws(cid):
            pass
    assert caught.value.response.status_code == 403


@pytest.mark.parametrize("content", ["", "   \n\t ", "x" * 5001, None, 42])
async def test_server_send_rejects_bad_content_with_400_and_stores_nothing(
    api: Api, content: object
) -> None:
    cid = (await api.create())["consultation"]["id"]
    response = await api.request(
        "POST", f"/api/v1/consultations/{cid}/messages", json={"content": content}
    )
    assert response.status_code == 400
    assert len(await api.messages(cid)) == 1


async def test_server_content_limit_counts_after_trimming(api: Api) -> None:
    cid = (await api.create())["consultation"]["id"]
    padded = "  " + "y" * 5000 + "  "
    sent = await api.data(
        "POST", f"/api/v1/consultations/{cid}/messages", expect=201, json={"content": padded}
    )
    assert sent["user_message"]["content"] == "y" * 5000


async def test_server_oversized_body_is_413(api: Api) -> None:
    cid = (await api.create())["consultation"]["id"]
    huge = {"content": "z" * (70 * 1024)}
    response = await api.request("POST", f"/api/v1/consultations/{cid}/messages", json=huge)
    assert response.status_code == 413
    assert "too large" in response.json()["error"]["message"]


async def test_server_oversized_body_on_a_route_without_body_is_413_and_changes_nothing(
    api: Api,
) -> None:
    cid = (await api.create())["consultation"]["id"]
    huge = "z" * (70 * 1024)
    response = await api.request("POST", f"/api/v1/consultations/{cid}/complete", content=huge)
    assert response.status_code == 413
    assert "too large" in response.json()["error"]["message"]
    assert (await api.data("GET", f"/api/v1/consultations/{cid}"))["status"] == "active"
    # without a body (or a small one) the same route completes the consultation
    done = await api.data("POST", f"/api/v1/consultations/{cid}/complete", content="{}")
    assert done["status"] == "completed"


async def test_server_send_to_completed_consultation_is_403(api: Api) -> None:
    cid = (await api.create())["consultation"]["id"]
    await api.data("POST", f"/api/v1/consultations/{cid}/complete")
    response = await api.request(
        "POST", f"/api/v1/consultations/{cid}/messages", json={"content": "hello"}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "CONSULTATION_NOT_ACTIVE"
    assert len(await api.messages(cid)) == 1


async def test_server_eleventh_active_consultation_is_429(api: Api) -> None:
    ids = [(await api.create())["consultation"]["id"] for _ in range(10)]
    response = await api.request("POST", "/api/v1/consultations", json={"persona": "nutritionist"})
    assert response.status_code == 429
    assert response.json()["error"]["message"] == (
        "too many active consultations: please complete some before creating new ones"
    )
    assert (await api.data("GET", "/api/v1/consultations"))["total_count"] == 10
    await api.data("POST", f"/api/v1/consultations/{ids[0]}/complete")
    await api.create()


async def test_server_list_rejects_bad_parameters(api: Api) -> None:
    status = await api.request("GET", "/api/v1/consultations", params={"status": "sleeping"})
    assert status.status_code == 400
    assert status.json()["error"]["message"] == "invalid status parameter"
    for params in (
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"offset": "-1"},
        {"persona": "x"},
    ):
        response = await api.request("GET", "/api/v1/consultations", params=params)
        assert response.status_code == 400, params
    bad_context = await api.request(
        "GET", "/api/v1/consultations/quick-actions", params={"context_type": "dream"}
    )
    assert bad_context.status_code == 400
    assert bad_context.json()["error"]["message"] == "Invalid context_type parameter"


async def test_server_offsets_have_no_maximum(api: Api) -> None:
    consultation = (await api.create())["consultation"]["id"]
    for offset in (10**9 + 1, 10**40):  # minimum 0, no maximum in any spec (B2.12)
        page = await api.data("GET", "/api/v1/consultations", params={"offset": offset})
        assert (page["consultations"], page["total_count"]) == ([], 1)
        history = await api.data(
            "GET", f"/api/v1/consultations/{consultation}/messages", params={"offset": offset}
        )
        assert (history["messages"], history["total_count"]) == ([], 1)


async def test_server_spec_profile_duplicate_email_409_has_a_string_error(
    reference_server_factory: Callable[..., ReferenceServer],
) -> None:
    server = reference_server_factory(profile="spec")
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(
            "/api/v1/auth/register",
            json={
                "email": server.email,
                "password": "long-enough",
                "name": "Twin",
                "date_of_birth": "1990-05-15",
            },
            headers={"X-API-Key": server.api_key},
        )
    assert response.status_code == 409
    body = response.json()
    assert body["success"] is False
    assert isinstance(body["error"], str)


async def test_server_list_pages_with_limit_and_offset(api: Api) -> None:
    ids = [(await api.create())["consultation"]["id"] for _ in range(5)]
    page = await api.data("GET", "/api/v1/consultations", params={"limit": 2, "offset": 1})
    assert [c["id"] for c in page["consultations"]] == [ids[3], ids[2]]
    assert page["total_count"] == 5


@pytest.mark.parametrize(
    ("change", "word"),
    [
        ({"date_of_birth": "2020-01-01"}, "13"),
        ({"password": "short"}, "password"),
        ({"name": None}, "name"),
        ({"name": "   "}, "name"),
        ({"date_of_birth": None}, "date_of_birth"),
        ({"date_of_birth": "15/05/1990"}, "date_of_birth"),
    ],
)
async def test_server_register_requires_name_and_date_of_birth(
    api: Api, change: dict[str, Any], word: str
) -> None:
    body = {
        "email": "new-user@example.org",
        "password": "long-enough",
        "name": "John Doe",
        "date_of_birth": "1990-05-15",
        **change,
    }
    response = await api.http.post(
        "/api/v1/auth/register",
        json={k: v for k, v in body.items() if v is not None},
        headers={"X-API-Key": api.server.api_key},
    )
    assert response.status_code == 400
    assert word in response.json()["error"]["message"]


async def test_server_register_takes_rfc3339_birth_date_and_rejects_duplicates(api: Api) -> None:
    headers = {"X-API-Key": api.server.api_key}
    body = {"password": "long-enough", "name": "John Doe", "date_of_birth": "1990-05-15T00:00:00Z"}
    first = await api.http.post(
        "/api/v1/auth/register", json={"email": "john@example.org", **body}, headers=headers
    )
    assert first.status_code == 201
    assert set(first.json()["data"]) == {
        "user_id", "email", "name", "created_at", "access_token", "refresh_token"
    }  # fmt: skip
    duplicate = await api.http.post(
        "/api/v1/auth/register", json={"email": api.server.email.upper(), **body}, headers=headers
    )
    assert duplicate.status_code == 409


async def test_server_conflict_flag_answers_409_with_existing_id(
    reference_server_factory: Callable[..., ReferenceServer],
    api_factory: Callable[[ReferenceServer], Api],
) -> None:
    api = api_factory(reference_server_factory(conflict_on_duplicate=True))
    await api.login()
    first = (await api.create("nutritionist"))["consultation"]["id"]
    response = await api.request("POST", "/api/v1/consultations", json={"persona": "nutritionist"})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "CONSULTATION_EXISTS"
    assert error["details"]["existing_consultation_id"] == first
    assert error["details"]["can_continue"] is True
    await api.create("fitness_coach")


async def test_server_websocket_upgrade_refusals(api: Api) -> None:
    cid = (await api.create())["consultation"]["id"]
    cases = [
        ("not-a-uuid", api.headers, 400),
        (cid, {"X-API-Key": api.server.api_key}, 400),
        (cid, {"X-API-Key": api.server.api_key, "Authorization": "Bearer garbage"}, 401),
        (cid, {"Authorization": f"Bearer {api.access_token}"}, 401),
        (MISSING, api.headers, 404),
    ]
    for target, headers, status in cases:
        with pytest.raises(websockets.InvalidStatus) as caught:
            async with api.ws(target, additional_headers=headers):
                pass
        assert caught.value.response.status_code == status, (target, headers)


async def test_server_websocket_accepts_token_in_query(api: Api) -> None:
    cid = (await api.create())["consultation"]["id"]
    url = f"{api.server.ws_url}/api/v1/consultations/{cid.upper()}/ws?token={api.access_token}"
    async with websockets.connect(url, additional_headers={"X-API-Key": api.server.api_key}) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"


async def test_server_websocket_reports_not_active_and_bad_content(api: Api) -> None:
    cid = (await api.create())["consultation"]["id"]
    async with api.ws(cid) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "message", "content": "  "}))
        invalid = json.loads(await ws.recv())
        assert invalid["type"] == "error"
        assert invalid["code"] == "VALIDATION_ERROR"
        await ws.send("this is not json")
        assert json.loads(await ws.recv())["type"] == "error"
    await api.data("POST", f"/api/v1/consultations/{cid}/complete")
    async with api.ws(cid) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "message", "content": "hello?"}))
        error = (await ws_events(ws, until="error", timeout=scaled(5)))[-1]
    assert error == {
        "type": "error",
        "consultation_id": cid,
        "error": "Consultation is not active",
        "code": "CONSULTATION_NOT_ACTIVE",
        "timestamp": error["timestamp"],
    }
    assert len(await api.messages(cid)) == 1


async def test_server_completing_closes_open_sockets(api: Api) -> None:
    cid = (await api.create())["consultation"]["id"]
    async with api.ws(cid) as ws:
        await ws.recv()
        await api.data("POST", f"/api/v1/consultations/{cid}/complete")
        with pytest.raises(websockets.ConnectionClosedOK):
            await ws.recv()
    assert ws.close_code == 1000


async def test_server_deeply_nested_json_is_400_not_500(api: Api) -> None:
    response = await api.request(
        "POST",
        "/api/v1/consultations",
        content=b"[" * 50_000,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    cid = (await api.create())["consultation"]["id"]
    async with api.ws(cid) as ws:
        await ws.recv()
        await ws.send("[" * 50_000)
        assert json.loads(await ws.recv())["code"] == "INVALID_MESSAGE"
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv())["type"] == "pong"
