"""The client against small hostile backends: the quirks of PROTOCOL B7 the reference server lacks.

Each backend is an in-memory Lume (tests/hostile_servers.py) with one misbehaviour switched
on. The oracle is the same as everywhere: the transcript equals the server's messages and
each user message reaches the server once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from lume_widget.client import LumeClient, Settings, Tier
from lume_widget.core.events import ChunkReceived, Event, ReplyCompleted, TurnFailed
from lume_widget.errors import ServerError
from tests.hostile_servers import API_KEY, Hostile, client_settings, streamed


@pytest.fixture
def settings(time_scale: float) -> Settings:
    return client_settings(time_scale)


@pytest.fixture
def hostile() -> Iterator[list[Hostile]]:
    started: list[Hostile] = []
    yield started
    for server in started:
        server.stop()


def start(registry: list[Hostile], **knobs: Any) -> Hostile:
    server = Hostile(**knobs).start()
    registry.append(server)
    return server


async def connect(server: Hostile, settings: Settings, **options: Any) -> LumeClient:
    return await LumeClient.connect(
        server.url,
        api_key=API_KEY,
        email="someone@example.com",
        password="password123",
        settings=settings,
        **options,
    )


def check_oracle(server: Hostile, chat: Any, text: str) -> None:
    stored = server.messages[chat.id]
    assert [(m.id, m.role, m.content) for m in chat.transcript] == [
        (m["id"], m["role"], m["content"]) for m in stored
    ]
    assert server.sent.count(text) == 1


async def turn(server: Hostile, settings: Settings, text: str, **open_options: Any) -> Any:
    async with await connect(server, settings) as client:
        chat = await client.open("nutritionist", **open_options)
        events: list[Event] = [e async for e in chat.stream(text)]
        if isinstance(events[-1], ReplyCompleted):
            check_oracle(server, chat, text)
        return events, chat


def whole_message(server: Hostile, text: str, reply: dict[str, Any]) -> list[Any]:
    return [
        json.dumps({"type": "message_received"}),
        json.dumps({"type": "message", "message": reply, "timestamp": reply["created_at"]}),
    ]


def batched_and_dirty(server: Hostile, text: str, reply: dict[str, Any]) -> list[Any]:
    normal = streamed(server, text, reply)
    return [
        b"\x00\x01binary",
        "\n".join(normal[:3]) + "\n\n",
        "{not json",
        json.dumps({"type": "typing_indicator"}) + "\n" + "\n".join(normal[3:]) + "\n",
    ]


def ack_only(server: Hostile, text: str, reply: dict[str, Any]) -> list[Any]:
    return [json.dumps({"type": "message_received"})]


def error_mid_stream(server: Hostile, text: str, reply: dict[str, Any]) -> list[Any]:
    normal = streamed(server, text, reply)
    return [*normal[:3], json.dumps({"type": "error", "error": "Failed to process message"})]


def close_mid_stream(server: Hostile, text: str, reply: dict[str, Any]) -> list[Any]:
    return [*streamed(server, text, reply)[:3], "close"]


def stall_mid_stream(server: Hostile, text: str, reply: dict[str, Any]) -> list[Any]:
    return [*streamed(server, text, reply)[:3], "stall"]


async def test_client_whole_message_frame_is_one_reply(
    hostile: list[Hostile], settings: Settings
) -> None:
    server = start(hostile, frames=whole_message)
    events, _ = await turn(server, settings, "whole please")
    done = events[-1]
    assert isinstance(done, ReplyCompleted)
    assert done.reply.chunks == 1
    assert [e.text for e in events if isinstance(e, ChunkReceived)] == [done.reply.text]


async def test_client_batched_binary_and_invalid_frames_are_handled(
    hostile: list[Hostile], settings: Settings
) -> None:
    server = start(hostile, frames=batched_and_dirty)
    events, chat = await turn(server, settings, "messy")
    done = events[-1]
    assert isinstance(done, ReplyCompleted)
    assert "".join(e.text for e in events if isinstance(e, ChunkReceived)) == done.reply.text
    assert chat.frames_skipped == 3  # binary, invalid JSON, unknown type
    assert done.reply.metadata["tokens_used"] == 7


@pytest.mark.parametrize("frames", [ack_only, stall_mid_stream], ids=["ack-only", "stall"])
async def test_client_silent_stream_is_recovered_from_history(
    hostile: list[Hostile], settings: Settings, frames: Any
) -> None:
    server = start(hostile, frames=frames)
    events, _ = await turn(server, settings, "then silence")
    assert isinstance(events[-1], ReplyCompleted)
    assert events[-1].reply.tier is Tier.LIVE


async def test_client_close_mid_stream_fails_fast_and_recovers(
    hostile: list[Hostile], settings: Settings
) -> None:
    server = start(hostile, frames=close_mid_stream)
    events, _ = await turn(server, settings, "cut me off")
    done = events[-1]
    assert isinstance(done, ReplyCompleted)
    # recovered well before the inactivity deadline: a close is not waited out
    assert done.reply.duration_s < settings.stream_inactivity_s


async def test_client_error_frame_fails_the_turn_keeping_the_partial_text(
    hostile: list[Hostile], settings: Settings
) -> None:
    server = start(hostile, frames=error_mid_stream)
    events, _ = await turn(server, settings, "break please")
    failed = events[-1]
    assert isinstance(failed, TurnFailed)
    assert isinstance(failed.error, ServerError)
    assert "Failed to process message" in str(failed.error)
    assert failed.partial_text == failed.error.partial_text
    assert failed.partial_text.startswith("Here ")


async def test_client_rest_polling_waits_for_the_reply_after_this_message(
    hostile: list[Hostile], settings: Settings
) -> None:
    server = start(hostile, history_lag=3)
    async with await connect(server, settings) as client:
        chat = await client.open("nutritionist", tier="rest")
        first = await chat.ask("first question")
        server.history_lag = 3
        second = await chat.ask("second question")
        assert second.message_id != first.message_id
        assert second.text.endswith("(2)")
        check_oracle(server, chat, "second question")


@pytest.mark.parametrize(
    ("status", "shape"), [(200, "message"), (202, "message"), (201, "wrapped"), (201, "both")]
)
async def test_client_accepts_every_send_answer(
    hostile: list[Hostile], settings: Settings, status: int, shape: str
) -> None:
    server = start(hostile, send_status=status, send_shape=shape)
    events, _ = await turn(server, settings, f"send {status} {shape}", tier="rest")
    assert isinstance(events[-1], ReplyCompleted)


@pytest.mark.parametrize(
    ("create_shape", "greeting_in", "spec"),
    [("nested", "messages", False), ("flat", "greeting_message", True)],
)
async def test_client_accepts_create_shapes_envelopes_and_timestamps(
    hostile: list[Hostile], settings: Settings, create_shape: str, greeting_in: str, spec: bool
) -> None:
    server = start(hostile, create_shape=create_shape, greeting_in=greeting_in, spec_envelope=spec)
    events, chat = await turn(server, settings, "shapes")
    assert isinstance(events[-1], ReplyCompleted)
    assert chat.transcript[0].role == "assistant"
    assert all(m.created_at is not None for m in chat.transcript)
    offsets = {m.created_at.utcoffset() for m in chat.transcript if m.created_at}
    assert len(offsets) > 1


async def test_client_refused_upgrade_with_401_refreshes_once_and_stays_live(
    hostile: list[Hostile], settings: Settings
) -> None:
    server = start(hostile, refuse_upgrades=[401])
    events, _ = await turn(server, settings, "401 on upgrade")
    assert isinstance(events[-1], ReplyCompleted)
    assert events[-1].reply.tier is Tier.LIVE
    assert server.refreshes == 1
    assert server.upgrades == 2


async def test_client_401_mid_session_is_refreshed_once_for_concurrent_callers(
    hostile: list[Hostile], settings: Settings
) -> None:
    server = start(hostile)
    async with await connect(server, settings) as client:
        chat = await client.open("nutritionist", tier="rest")
        server.expire_token_after = 0
        results = await asyncio.gather(
            chat.ask("during expiry"), *(client.list_consultations() for _ in range(5))
        )
        assert results[0].text
        assert server.refreshes == 1
        assert server.logins == 1
        check_oracle(server, chat, "during expiry")


async def test_client_rest_failures_demote_to_legacy_without_duplicates(
    hostile: list[Hostile], settings: Settings
) -> None:
    server = start(hostile, refuse_upgrades=[403], fail_sends=[500, 502, 503])
    async with await connect(server, settings) as client:
        chat = await client.open("nutritionist")
        reply = await chat.ask("survive everything")
        assert reply.tier is Tier.LEGACY
        assert [(c.previous, c.tier) for c in reply.tier_changes][-1] == (Tier.REST, Tier.LEGACY)
        check_oracle(server, chat, "survive everything")


async def test_client_lost_history_reads_on_rest_count_toward_demotion(
    hostile: list[Hostile], settings: Settings
) -> None:
    # two failed polls in a row (a new consultation is opened without a history read): one
    # short of the three that demote, so the pinned tier still delivers
    server = start(hostile, fail_history=[500, 500])
    async with await connect(server, settings) as client:
        chat = await client.open("nutritionist", tier="rest")
        chat.pin_tier(None)
        chat.pin_tier("rest")
        reply = await chat.ask("polls fail")
        check_oracle(server, chat, "polls fail")
        assert reply.text.endswith("(1)")


async def test_client_bad_request_on_send_fails_with_the_text_kept(
    hostile: list[Hostile], settings: Settings
) -> None:
    from lume_widget.errors import InvalidInputError

    server = start(hostile, fail_sends=[400])
    async with await connect(server, settings) as client:
        chat = await client.open("nutritionist", tier="rest")
        with pytest.raises(InvalidInputError) as info:
            await chat.ask("rejected")
        assert info.value.unsent_text == "rejected"
        assert server.sent == []


async def test_client_revoked_refresh_token_falls_back_to_logging_in_again(
    hostile: list[Hostile], settings: Settings
) -> None:
    server = start(hostile)
    async with await connect(server, settings) as client:
        await client.list_consultations()
        server._refresh.clear()  # every refresh token revoked
        server.expire_token_after = 0
        await client.list_consultations()
        assert server.logins == 2
        assert server.refreshes == 0


@pytest.mark.parametrize(
    ("ws_auth", "query", "header"),
    [("both", True, True), ("headers", False, True), ("query", True, False)],
)
async def test_client_websocket_credentials_go_where_configured(
    hostile: list[Hostile], settings: Settings, ws_auth: str, query: bool, header: bool
) -> None:
    import dataclasses

    from websockets.asyncio.client import connect as ws_connect

    seen: list[tuple[str, dict[str, str]]] = []

    async def spy(url: str, **options: Any) -> Any:
        seen.append((url, dict(options["additional_headers"])))
        return await ws_connect(url, **options)

    server = start(hostile)
    configured = dataclasses.replace(settings, ws_auth=ws_auth)  # type: ignore[arg-type]
    async with await connect(server, configured, ws_connector=spy) as client:
        chat = await client.open("nutritionist")
        assert (await chat.ask("where are my credentials")).tier is Tier.LIVE
    url, headers = seen[0]
    assert url.startswith(f"ws://127.0.0.1:{server.port}/api/v1/consultations/")
    assert ("?token=" in url) is query
    assert ("Authorization" in headers) is header
    assert headers["X-API-Key"] == API_KEY


def test_client_redaction_hides_every_secret_shape() -> None:
    from lume_widget.client.redact import redact

    text = redact(
        "GET /ws?token=abc.def.ghi&x=1 Authorization: Bearer abcdefghijkl "
        "X-API-Key: k123 {'X-Admin-Token': 'adm'} refresh_token=zzz"
    )
    for secret in ("abc.def.ghi", "abcdefghijkl", "k123", "adm", "zzz"):
        assert secret not in text
    assert "x=1" in text
