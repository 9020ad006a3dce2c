"""Text crossing a boundary is valid Unicode: lone UTF-16 surrogates from each source.

The user's input is refused with an error that says so; what a backend sends is repaired
(a pair split across two ``stream_chunk`` frames joins into one character, a lone half
becomes U+FFFD) before it reaches an event; the reference server answers 400, never 500.
Real loopback sockets throughout; the hostile backend is the reference server behind a relay
that rewrites its frames.
"""

from __future__ import annotations

import json

import httpx
import pytest

from lume_widget.core.events import ConnectionStatus, TurnFailed
from lume_widget.core.frames import Chunk, FrameError
from lume_widget.core.session import Session
from lume_widget.core.wire import message_from_json, parse_frames, validate_message
from lume_widget.errors import InvalidMessageError
from lume_widget.server import ReferenceServer
from lume_widget.text import lone_surrogate_at, may_hold_surrogate, repair_text
from tests.reliability.harness import rig
from tests.reliability.support import API, create_consultation, create_goal, login_user

GRIN = "\U0001f600"
HIGH, LOW = "\ud83d", "\ude00"


def test_text_repair_joins_a_pair_and_replaces_a_lone_half() -> None:
    assert repair_text("a" + HIGH + LOW + "b") == "a" + GRIN + "b"
    assert repair_text("a" + HIGH + "b") == "a\ufffdb"
    assert repair_text(LOW) == "\ufffd"
    assert repair_text("plain") == "plain"
    assert lone_surrogate_at("ok" + LOW) == 2


def test_wire_text_that_may_hold_a_surrogate_is_told_before_parsing() -> None:
    for value in ("x" + HIGH, LOW):
        raw = json.dumps({"a": value}, ensure_ascii=False)
        assert may_hold_surrogate(json.dumps({"a": value}))  # a \\udXXX escape
        assert may_hold_surrogate(raw)
        assert may_hold_surrogate(raw.encode("utf-8", "surrogatepass"))  # json.loads takes it
        assert may_hold_surrogate(raw.encode("utf-16", "surrogatepass"))  # walked after parsing
    assert may_hold_surrogate(json.dumps({"a": GRIN}))  # a pair escaped: walked, found valid
    plain = ('{"a": "caf\\u00e9 \\u2603"}', json.dumps({"a": "café ☃" + GRIN}, ensure_ascii=False))
    for text in plain:
        assert not may_hold_surrogate(text)
        assert not may_hold_surrogate(text.encode())


async def test_a_lone_surrogate_in_a_history_body_is_repaired() -> None:
    from lume_widget.client.auth import LumeAuth
    from lume_widget.client.rest import RestApi
    from lume_widget.core.settings import Settings

    body = '{"data": {"messages": [{"id": "m1", "role": "assistant", "content": "x\\ud83d"}]}}'
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text=body))
    auth = LumeAuth("k", access_token="t")
    rest = RestApi("http://backend.test", auth, Settings(), transport=transport)
    try:
        outcome = await rest.call("GET", "/api/v1/consultations/c/messages")
    finally:
        await rest.aclose()
    (message,) = outcome.data["messages"]
    assert message["content"] == "x\ufffd"


def test_user_message_with_a_lone_surrogate_is_refused_saying_so() -> None:
    with pytest.raises(InvalidMessageError) as caught:
        validate_message("I feel " + HIGH + " today")
    assert "surrogate" in str(caught.value)
    assert "character 8" in str(caught.value)
    assert caught.value.unsent_text == "I feel \ufffd today"
    # argv decoded with surrogateescape carries lone low surrogates: refused the same way
    with pytest.raises(InvalidMessageError):
        validate_message(b"caf\xe9".decode("utf-8", "surrogateescape"))
    assert validate_message("I feel " + GRIN) == "I feel " + GRIN


def test_backend_text_is_repaired_where_it_is_decoded() -> None:
    message = message_from_json({"id": "m1", "role": "assistant", "content": "x" + HIGH})
    assert message is not None
    assert message.content == "x\ufffd"
    batch = parse_frames(
        json.dumps({"type": "error", "error": "bad " + LOW})
        + "\n"
        + json.dumps({"type": "stream_chunk", "content": "half " + HIGH})
    )
    error, chunk = batch.events
    assert isinstance(error, FrameError)
    assert isinstance(chunk, Chunk)
    assert error.error == "bad \ufffd"
    assert chunk.content == "half " + HIGH  # joined with the next chunk by the session


def test_session_joins_a_pair_split_across_two_chunks() -> None:
    session = Session("c1")
    session.start(0.0)
    session.actions_to_perform()
    session.live_opened(session.live_generation, 0.1)
    session.begin_turn("Hello", 0.2)
    gen = session.live_generation
    for index, content in enumerate(["smile " + HIGH, LOW + " and " + LOW, " end" + HIGH]):
        session.message_received(
            gen, json.dumps({"type": "stream_chunk", "content": content}), 0.3 + index
        )
    texts = [getattr(e, "text", "") for e in session.events_received()]
    joined = "".join(texts)
    assert joined == "smile " + GRIN + " and \ufffd end"
    assert all(lone_surrogate_at(t) is None for t in texts)
    session.cancel_turn(5.0)
    failed = [e for e in session.events_received() if isinstance(e, TurnFailed)]
    assert failed[0].partial_text == "smile " + GRIN + " and \ufffd end\ufffd"


def _split_an_emoji_across_chunks(opcode: int, payload: bytes) -> list[tuple[int, bytes]]:
    """A backend slicing text in UTF-16 units: the first chunk gains the first half of an
    emoji, the second chunk the other half, each written as a JSON escape."""
    if opcode != 1 or b'"stream_chunk"' not in payload:
        return [(opcode, payload)]
    event = json.loads(payload)
    _split_an_emoji_across_chunks.count += 1  # type: ignore[attr-defined]
    seen = _split_an_emoji_across_chunks.count  # type: ignore[attr-defined]
    if seen == 1:
        event["content"] = event["content"] + HIGH
    elif seen == 2:
        event["content"] = LOW + event["content"]
    elif seen == 3:
        event["content"] = event["content"] + LOW  # a lone half
    return [(opcode, json.dumps(event, ensure_ascii=True).encode())]


async def test_a_pair_split_across_stream_chunk_frames_arrives_as_one_character(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    _split_an_emoji_across_chunks.count = 0  # type: ignore[attr-defined]
    async with rig(
        reference_server, time_scale, frame_transform=_split_an_emoji_across_chunks
    ) as r:
        await r.wait_status(ConnectionStatus.CONNECTED)
        record = await r.turn("What is a balanced lunch?")
        streamed = "".join(c.text for c in record.chunks)
        assert GRIN in streamed
        assert "\ufffd" in streamed
        assert all(lone_surrogate_at(c.text) is None for c in record.chunks)
        stored = await r.check()
        assert record.replies[0].reply.text == stored[-1]["content"]
        await r.close()


SURROGATE_BODIES = {
    "content": b'{"content": "hi \\ud83d"}',
    "every field": (
        b'{"content": "\\ud800", "persona": "\\udfff", "title": "\\ud83d", "email": '
        b'"a\\ud800@example.test", "password": "\\ud800", "refresh_token": "\\ud800", '
        b'"initial_message": "\\ud800", "\\ud800": 1}'
    ),
}


async def test_reference_server_answers_400_to_a_lone_surrogate_on_every_body_route(
    reference_server: ReferenceServer,
) -> None:
    from tests.reliability.test_server_security import body_routes

    async with httpx.AsyncClient(base_url=reference_server.url, timeout=10) as http:
        user = await login_user(
            http, reference_server.api_key, reference_server.email, reference_server.password
        )
        consultation = await create_consultation(http, user)
        goal = await create_goal(http, user, is_recurring=True, recurrence_pattern="daily")
        today = await http.get(f"{API}/goals/{goal['id']}/today", headers=user.headers())
        ids = {
            "consultation_id": consultation["id"],
            "goal_id": goal["id"],
            "instance_id": today.json()["data"]["id"],
        }
        wrong = []
        for name, raw in SURROGATE_BODIES.items():
            for method, path in body_routes():
                filled = path
                for key, value in ids.items():
                    filled = filled.replace("{" + key + "}", value)
                response = await http.request(
                    method,
                    filled,
                    content=raw,
                    headers={**user.headers(), "Content-Type": "application/json"},
                )
                if "{" in filled:  # an id this test has none of: refused before the body
                    if response.status_code >= 500:
                        wrong.append(f"{name}: {method} {path} -> {response.status_code}")
                elif response.status_code != 400:
                    wrong.append(f"{name}: {method} {path} -> {response.status_code}")
                elif "surrogate" not in response.text:
                    wrong.append(f"{name}: {method} {path} -> 400 without saying why")
        assert not wrong, wrong
        listed = await http.get(f"{API}/consultations", headers=user.headers())
        assert listed.status_code == 200


async def test_reference_server_refuses_a_lone_surrogate_on_the_socket(
    reference_server: ReferenceServer,
) -> None:
    import websockets

    async with httpx.AsyncClient(base_url=reference_server.url, timeout=10) as http:
        user = await login_user(
            http, reference_server.api_key, reference_server.email, reference_server.password
        )
        consultation = await create_consultation(http, user)
        url = f"{reference_server.ws_url}{API}/consultations/{consultation['id']}/ws"
        async with websockets.connect(url, additional_headers=user.headers()) as socket:
            await socket.recv()  # connected
            await socket.send('{"type":"message","content":"half \\ud83d"}')
            answer = json.loads(await socket.recv())
            assert answer["type"] == "error"
            assert "surrogate" in answer["error"]
            await socket.send('{"type":"message","content":"whole ' + GRIN + '"}')
            kinds = []
            while "stream_complete" not in kinds:
                kinds.append(json.loads(await socket.recv())["type"])
        stored = await http.get(
            f"{API}/consultations/{consultation['id']}/messages", headers=user.headers()
        )
        contents = [m["content"] for m in stored.json()["data"]["messages"]]
        assert "whole " + GRIN in contents
