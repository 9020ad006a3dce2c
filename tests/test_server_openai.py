"""The openai responder against a small streaming chat-completions endpoint on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator

import pytest
from conftest import Api, scaled, ws_events
from fake_model import Answer, FakeModel

from lume_widget.server import ReferenceServer

DELTAS = ["Hello ", "from ", "the ", "model. ", "Keep ", "going!"]


@pytest.fixture
def fake_model() -> Iterator[FakeModel]:
    model = FakeModel().start(scaled(10))
    model.respond = lambda body: Answer(deltas=DELTAS)
    yield model
    model.stop()


@pytest.fixture
async def openai_api(
    fake_model: FakeModel,
    reference_server_factory: Callable[..., ReferenceServer],
    api_factory: Callable[[ReferenceServer], Api],
) -> Api:
    server = reference_server_factory(
        responder="openai",
        openai_base_url=fake_model.url,
        openai_model="test-model",
        openai_api_key="sk-test-key",
    )
    api = api_factory(server)
    await api.login()
    return api


async def test_server_openai_streams_model_deltas_and_stores_them(
    openai_api: Api, fake_model: FakeModel
) -> None:
    goal = await openai_api.create_goal("Run a 10k", target_value=10, target_unit="km")
    created = await openai_api.create("fitness_coach", context_type="goal", context_id=goal["id"])
    cid = created["consultation"]["id"]
    assert "Run a 10k" in created["greeting_message"]["content"]
    async with openai_api.ws(cid) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "message", "content": "How should I train this week?"}))
        events = await ws_events(ws)
    chunks = [e["content"] for e in events if e["type"] == "stream_chunk"]
    assert chunks == DELTAS
    assert events[-1]["type"] == "stream_complete"
    history = await openai_api.messages(cid)
    assert history[-1]["content"] == "".join(DELTAS)

    request = fake_model.requests[-1]
    assert request["auth"] == "Bearer sk-test-key"
    body = request["body"]
    assert body["model"] == "test-model"
    assert body["stream"] is True
    system = body["messages"][0]
    assert system["role"] == "system"
    assert "fitness coach" in system["content"]
    assert "Run a 10k" in system["content"]
    assert "10 km" in system["content"]
    assert [m["role"] for m in body["messages"][1:]] == ["assistant", "user"]
    assert body["messages"][-1]["content"] == "How should I train this week?"


async def test_server_openai_sends_history_on_later_turns(
    openai_api: Api, fake_model: FakeModel
) -> None:
    cid = (await openai_api.create("nutritionist"))["consultation"]["id"]
    async with openai_api.ws(cid) as ws:
        await ws.recv()
        for text in ("First question", "Second question"):
            await ws.send(json.dumps({"type": "message", "content": text}))
            await ws_events(ws)
    messages = fake_model.requests[-1]["body"]["messages"]
    assert [m["role"] for m in messages] == ["system", "assistant", "user", "assistant", "user"]
    assert messages[3]["content"] == "".join(DELTAS)
    assert "nutritionist" in messages[0]["content"]


async def test_server_openai_failure_sends_error_frame_and_stores_nothing(
    openai_api: Api, fake_model: FakeModel
) -> None:
    fake_model.respond = lambda body: Answer(status=400)
    cid = (await openai_api.create("general_wellness"))["consultation"]["id"]
    async with openai_api.ws(cid) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "message", "content": "Hello?"}))
        events = await ws_events(ws, until="error")
    assert events[-1]["error"] == "Failed to process message"
    assert events[-1]["code"] == "AI_ERROR"
    assert [m["role"] for m in await openai_api.messages(cid)] == ["assistant", "user"]


async def test_server_openai_answers_rest_sends_with_a_whole_message(openai_api: Api) -> None:
    cid = (await openai_api.create("wellness_specialist"))["consultation"]["id"]
    async with openai_api.ws(cid) as ws:
        await ws.recv()
        await openai_api.data(
            "POST",
            f"/api/v1/consultations/{cid}/messages",
            expect=201,
            json={"content": "I feel stressed"},
        )
        frame = json.loads(await asyncio.wait_for(ws.recv(), scaled(10)))
    assert frame["type"] == "message"
    assert frame["message"]["content"] == "".join(DELTAS)
