"""The reference server's full protocol flow over real loopback sockets, in both profiles."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import websockets
from conftest import Api, scaled, ws_events

from lume_widget.server import ReferenceServer

OBSERVED_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$")
SPEC_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


async def wait_for_reply(api: Api, consultation_id: str, count: int) -> list[dict[str, Any]]:
    """Poll history until it holds ``count`` messages (the reply is generated in the background)."""
    async with asyncio.timeout(scaled(10)):
        while True:
            messages = await api.messages(consultation_id)
            if len(messages) >= count:
                return messages
            await asyncio.sleep(0.02)


async def test_server_health_answers_ready(reference_server: ReferenceServer) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(reference_server.url + "/healthz")
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "ok"


@pytest.mark.parametrize("profile", ["observed", "spec"])
async def test_server_health_answers_like_the_real_backend_without_credentials(
    profile: str, reference_server_factory: Callable[..., ReferenceServer]
) -> None:
    server = reference_server_factory(profile=profile)
    async with httpx.AsyncClient() as http:
        health = await http.get(server.url + "/health")
        ready = await http.get(server.url + "/ready")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200


async def test_server_create_answers_nested_consultation_with_greeting(api: Api) -> None:
    data = await api.create("nutritionist")
    consultation = data["consultation"]
    assert data["needs_survey"] is False
    assert consultation["status"] == "active"
    assert consultation["persona"] == "nutritionist"
    assert consultation["message_count"] == 1
    assert consultation["id"] == consultation["id"].lower()
    assert OBSERVED_TS.match(consultation["started_at"])
    assert "completed_at" not in consultation  # nulls are omitted in the observed profile
    greeting = data["greeting_message"]
    assert greeting["role"] == "assistant"
    assert "nutritionist" in greeting["content"]
    history = await api.messages(consultation["id"])
    assert [m["id"] for m in history] == [greeting["id"]]


async def test_server_goal_consultation_names_goal_title_and_target(api: Api) -> None:
    goal = await api.create_goal(
        "Reach a healthy weight",
        current_value=180,
        target_value=165,
        target_unit="lbs",
        goal_type="weight",
    )
    data = await api.create(
        "wellness_specialist", context_type="goal", context_id=goal["id"].upper()
    )
    consultation = data["consultation"]
    assert consultation["context_type"] == "goal"
    assert consultation["context_id"] == goal["id"]
    assert consultation["goal_id"] == goal["id"]
    assert consultation["has_context_for_goal_suggestions"] is True
    greeting = data["greeting_message"]
    assert "Reach a healthy weight" in greeting["content"]
    assert "165 lbs" in greeting["content"]
    assert consultation["messages"][0]["id"] == greeting["id"]

    async with api.ws(consultation["id"]) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"
        await ws.send(
            json.dumps({"type": "message", "content": "What should I eat for breakfast?"})
        )
        events = await ws_events(ws)
    reply = "".join(e["content"] for e in events if e["type"] == "stream_chunk")
    assert "Reach a healthy weight" in reply
    assert "165 lbs" in reply


async def test_server_initial_message_is_stored_and_answered(api: Api) -> None:
    data = await api.create(
        "fitness_coach", initial_message="  How do I start a workout routine?  "
    )
    assert "greeting_message" not in data
    cid = data["consultation"]["id"]
    messages = await wait_for_reply(api, cid, 2)
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"] == "How do I start a workout routine?"
    assert len(messages[1]["content"].split()) >= 30


async def test_server_websocket_streams_chunks_and_stores_reply(api: Api) -> None:
    cid = (await api.create("general_wellness"))["consultation"]["id"]
    async with api.ws(cid) as ws:
        connected = json.loads(await ws.recv())
        assert connected["type"] == "connected"
        assert connected["consultation_id"] == cid
        assert OBSERVED_TS.match(connected["timestamp"])
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv())["type"] == "pong"
        await ws.send(json.dumps({"type": "message", "content": "I can't sleep well lately"}))
        events = await ws_events(ws)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_received"
    assert kinds[-1] == "stream_complete"
    assert set(kinds[1:-1]) == {"stream_chunk"}
    assert all(e["consultation_id"] == cid and "timestamp" in e for e in events)
    chunks = [e["content"] for e in events if e["type"] == "stream_chunk"]
    assert all(1 <= len(c.split()) <= 3 for c in chunks)
    metadata = events[-1]["metadata"]
    assert metadata["tokens_used"] > 0
    assert metadata["processing_time_ms"] >= 0
    assert metadata["function_calls"] == 0  # a count of function calls (SW32), not a list
    history = await api.messages(cid)
    assert [m["role"] for m in history] == ["assistant", "user", "assistant"]
    assert history[-1]["content"] == "".join(chunks)
    assert "sleep" in history[-1]["content"].lower()


async def test_server_rest_send_answers_201_and_pushes_whole_message(api: Api) -> None:
    cid = (await api.create("nutritionist"))["consultation"]["id"]
    async with api.ws(cid) as ws:
        await ws.recv()  # connected
        sent = await api.data(
            "POST",
            f"/api/v1/consultations/{cid.upper()}/messages",
            expect=201,
            json={"content": "Ideas for a quick lunch?"},
        )
        user_message = sent["user_message"]
        assert user_message["role"] == "user"
        assert user_message["content"] == "Ideas for a quick lunch?"
        frame = json.loads(await asyncio.wait_for(ws.recv(), scaled(10)))
    assert frame["type"] == "message"
    assert frame["message"]["role"] == "assistant"
    history = await api.messages(cid)
    assert history[-1] == frame["message"]
    assert history[-2]["id"] == user_message["id"]


async def test_server_legacy_channel_delivers_whole_messages(api: Api) -> None:
    cid = (await api.create("fitness_coach"))["consultation"]["id"]
    async with api.ws(cid, legacy=True) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"
        await ws.send(json.dumps({"type": "message", "content": "Best cardio for beginners?"}))
        received = json.loads(await ws.recv())
        assert received["type"] == "message_received"
        frame = await asyncio.wait_for(ws.recv(), scaled(10))
    assert "\n" not in frame
    message = json.loads(frame)
    assert message["type"] == "message"
    assert message["message"]["role"] == "assistant"
    legacy_history = await api.data("GET", f"/api/v1/wellness/ai/chat/conversations/{cid}/messages")
    assert legacy_history["messages"][-1] == message["message"]
    sent = await api.data(
        "POST",
        f"/api/v1/wellness/ai/chat/conversations/{cid}/messages",
        expect=201,
        json={"content": "And for strength?"},
    )
    assert sent["user_message"]["content"] == "And for strength?"


async def test_server_list_complete_delete_lifecycle(api: Api) -> None:
    first = (await api.create("nutritionist"))["consultation"]["id"]
    second = (await api.create("fitness_coach"))["consultation"]["id"]
    listed = await api.data("GET", "/api/v1/consultations")
    assert [c["id"] for c in listed["consultations"]] == [second, first]
    assert listed["total_count"] == 2
    assert listed["limit"] == 20
    assert listed["offset"] == 0

    completed = await api.data("POST", f"/api/v1/consultations/{first}/complete")
    assert completed["status"] == "completed"
    assert "completed_at" in completed
    again = await api.request("POST", f"/api/v1/consultations/{first}/complete")
    assert again.status_code == 400

    active = await api.data("GET", "/api/v1/consultations")
    assert [c["id"] for c in active["consultations"]] == [second]
    done = await api.data("GET", "/api/v1/consultations", params={"status": "completed"})
    assert [c["id"] for c in done["consultations"]] == [first]

    flat = await api.data("GET", f"/api/v1/consultations/{second}")
    assert flat["id"] == second
    assert "consultation" not in flat

    deleted = await api.request("DELETE", f"/api/v1/consultations/{second}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    gone = await api.request("GET", f"/api/v1/consultations/{second}")
    assert gone.status_code == 404
    assert gone.json() == {"error": {"message": "consultation not found", "code": "NOT_FOUND"}}


async def test_server_spec_profile_uses_success_envelope_and_202(
    reference_server_factory: Callable[..., ReferenceServer], api_factory: Callable[..., Api]
) -> None:
    server = reference_server_factory(profile="spec")
    api = api_factory(server)
    login = await api.http.post(
        "/api/v1/auth/login",
        json={"email": server.email, "password": server.password},
        headers={"X-API-Key": server.api_key},
    )
    assert login.json()["success"] is True
    await api.login()
    created = await api.request("POST", "/api/v1/consultations", json={"persona": "nutritionist"})
    body = created.json()
    assert created.status_code == 201
    assert body["success"] is True
    consultation = body["data"]["consultation"]
    assert consultation["completed_at"] is None  # nulls are kept in the spec profile
    assert SPEC_TS.match(consultation["started_at"])
    cid = consultation["id"]
    sent = await api.request(
        "POST", f"/api/v1/consultations/{cid}/messages", json={"content": "Hi"}
    )
    assert sent.status_code == 202
    assert sent.json()["data"]["role"] == "user"
    bad = await api.request("POST", "/api/v1/consultations", json={"persona": "pirate"})
    assert bad.status_code == 400
    assert bad.json() == {"success": False, "error": "Invalid persona"}
    async with api.ws(cid) as ws:
        connected = json.loads(await ws.recv())
        assert SPEC_TS.match(connected["timestamp"])
        await ws.send(json.dumps({"type": "message", "content": "stress tips?"}))
        events = await ws_events(ws)
    assert events[-1]["type"] == "stream_complete"


@pytest.mark.parametrize(
    "persona", ["nutritionist", "fitness_coach", "wellness_specialist", "general_wellness"]
)
async def test_server_personas_answer_in_their_own_voice(api: Api, persona: str) -> None:
    cid = (await api.create(persona))["consultation"]["id"]
    async with api.ws(cid) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "message", "content": "How can I sleep better?"}))
        events = await ws_events(ws)
    text = "".join(e["content"] for e in events if e["type"] == "stream_chunk")
    assert 40 <= len(text.split()) <= 400
    markers = {
        "nutritionist": "eat",
        "fitness_coach": "Recovery",
        "wellness_specialist": "gentle",
        "general_wellness": "energy",
    }
    assert markers[persona].lower() in text.lower()


async def test_server_messages_sent_back_to_back_are_answered_in_order(api: Api) -> None:
    from lume_widget.server.persona_texts import VOICES

    cid = (await api.create("nutritionist"))["consultation"]["id"]
    async with api.ws(cid) as ws:
        await ws.recv()
        first = json.dumps({"type": "message", "content": "I sleep badly"})
        second = json.dumps({"type": "message", "content": "What about breakfast?"})
        await ws.send(first + "\n" + second)  # two objects in one frame, as some clients pack them
        turn_one = await ws_events(ws)
        turn_two = await ws_events(ws)
    assert turn_one[0]["type"] == "message_received"
    assert turn_two[0]["type"] == "message_received"
    reply_one = "".join(e["content"] for e in turn_one if e["type"] == "stream_chunk")
    reply_two = "".join(e["content"] for e in turn_two if e["type"] == "stream_chunk")
    assert VOICES["nutritionist"].lens["sleep"] in reply_one
    assert VOICES["nutritionist"].lens["breakfast"] in reply_two
    roles = [m["role"] for m in await api.messages(cid)]
    assert roles == ["assistant", "user", "user", "assistant", "assistant"]


async def test_server_logs_never_carry_secrets(
    api: Api, reference_server: ReferenceServer, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    cid = (await api.create("nutritionist"))["consultation"]["id"]
    url = f"{reference_server.ws_url}/api/v1/consultations/{cid}/ws?token={api.access_token}"
    async with websockets.connect(
        url, additional_headers={"X-API-Key": reference_server.api_key}
    ) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "message", "content": "hello"}))
        await ws_events(ws)
    reference_server.set_faults(latency_ms=1)
    await api.request(
        "GET", "/api/v1/consultations", headers={"Authorization": "Bearer expired.or.bad"}
    )
    server_lines = [
        r.getMessage() for r in caplog.records if r.name.startswith(("lume_widget", "uvicorn"))
    ]
    assert server_lines  # the server did log something at debug level
    text = "\n".join(server_lines) + repr(reference_server) + repr(reference_server.config)
    for secret in (
        api.access_token,
        api.refresh_token,
        reference_server.api_key,
        reference_server.password,
        reference_server.admin_token,
    ):
        assert secret not in text


async def test_server_goal_suggestion_flag_turns_on_with_enough_context(api: Api) -> None:
    cid = (await api.create("general_wellness"))["consultation"]["id"]
    for expected, text in ((False, "Hi"), (True, "I want to move more")):
        await api.data(
            "POST", f"/api/v1/consultations/{cid}/messages", expect=201, json={"content": text}
        )
        consultation = await api.data("GET", f"/api/v1/consultations/{cid}")
        assert consultation["has_context_for_goal_suggestions"] is expected


async def test_server_spec_profile_conflict_keeps_structured_error(
    reference_server_factory: Callable[..., ReferenceServer], api_factory: Callable[..., Api]
) -> None:
    api = api_factory(reference_server_factory(profile="spec", conflict_on_duplicate=True))
    await api.login()
    first = (await api.create("fitness_coach"))["consultation"]["id"]
    response = await api.request("POST", "/api/v1/consultations", json={"persona": "fitness_coach"})
    assert response.status_code == 409
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "CONSULTATION_EXISTS"
    assert body["error"]["details"]["existing_consultation_id"] == first


async def test_server_older_goal_id_field_links_the_goal(api: Api) -> None:
    goal = await api.create_goal("Drink more water", goal_type="nutrition", target_unit="glasses")
    consultation = (await api.create("nutritionist", goal_id=goal["id"].upper()))["consultation"]
    assert consultation["goal_id"] == goal["id"]
    assert consultation["context_type"] == "goal"
    assert consultation["context_id"] == goal["id"]
    await api.request("DELETE", f"/api/v1/goals/{goal['id']}")
    cid = consultation["id"]
    async with api.ws(cid) as ws:  # deleting the goal later does not break the consultation
        await ws.recv()
        await ws.send(json.dumps({"type": "message", "content": "How much per day?"}))
        events = await ws_events(ws)
    assert "Drink more water" in "".join(e.get("content", "") for e in events)


async def test_server_goal_replies_say_how_far_along_the_goal_is(api: Api) -> None:
    goal = await api.create_goal("Walk 10000 steps a day", current_value=4000)
    assert goal["progress"] == 0.4
    created = await api.create("fitness_coach", context_type="goal", context_id=goal["id"])
    cid = created["consultation"]["id"]
    async with api.ws(cid) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "message", "content": "How am I doing?"}))
        await ws_events(ws)
    reply = (await api.messages(cid))[-1]["content"]
    assert "You are 40% of the way there (4000 of 10000 steps)." in reply
    fresh = await api.create_goal("Stretch daily", target_value=10, target_unit="minutes")
    opened = await api.create("fitness_coach", context_type="goal", context_id=fresh["id"])
    async with api.ws(opened["consultation"]["id"]) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "message", "content": "Where do I start?"}))
        await ws_events(ws)
    first = (await api.messages(opened["consultation"]["id"]))[-1]["content"]
    assert "just getting started (0 of 10 minutes so far)" in first
