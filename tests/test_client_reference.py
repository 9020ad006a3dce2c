"""The client against the reference server over loopback: tiers, faults, recovery, the oracle.

The oracle everywhere: the client's transcript equals the server's history (ids, roles,
order, content), each user message is stored once and each reply shown once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from lume_widget.client import Consultation, LumeClient, Settings, Tier
from lume_widget.core.events import (
    ChunkReceived,
    ConnectionStatus,
    Event,
    ReplyCompleted,
    StatusChanged,
    TierChanged,
    UserMessageStored,
)
from lume_widget.core.polling import first_gap
from lume_widget.server import ReferenceServer
from tests.conftest import Api
from tests.hostile_servers import client_settings, connect, same_messages, stored_once


@pytest.fixture
def settings(time_scale: float) -> Settings:
    return client_settings(time_scale)


async def _ask_and_check(chat: Consultation, api: Api, text: str) -> Any:
    reply = await chat.ask(text)
    history = await api.messages(chat.id)
    same_messages(chat.transcript, history)
    stored_once(history, text, reply)
    return reply


async def test_client_ask_streams_on_live_and_matches_history(
    reference_server: ReferenceServer, api: Api, settings: Settings
) -> None:
    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist")
        reply = await _ask_and_check(chat, api, "What should I eat for breakfast?")
        assert reply.tier is Tier.LIVE
        assert reply.chunks > 1
        assert reply.ttft_s is not None
        assert 0 <= reply.ttft_s <= reply.duration_s
        assert reply.reconnects == 0
        assert reply.tier_changes == ()
        assert reply.metadata.get("tokens_used")
        assert chat.status is ConnectionStatus.CONNECTED
        second = await _ask_and_check(chat, api, "And for lunch?")
        assert second.message_id != reply.message_id


async def test_client_stream_yields_chunks_that_add_up_to_the_stored_reply(
    reference_server: ReferenceServer, api: Api, settings: Settings
) -> None:
    async with await connect(reference_server, settings) as client:
        chat = await client.open("fitness_coach")
        await chat.wait_connected(5)
        events: list[Event] = [event async for event in chat.stream("/markdown please")]
    chunks = [e for e in events if isinstance(e, ChunkReceived)]
    done = events[-1]
    assert isinstance(done, ReplyCompleted)
    assert "".join(c.text for c in chunks) == done.reply.text
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert any(isinstance(e, UserMessageStored) for e in events)
    statuses = [e.status for e in events if isinstance(e, StatusChanged)]
    assert statuses[0] is ConnectionStatus.STREAMING
    assert statuses[-1] is ConnectionStatus.CONNECTED


@pytest.mark.parametrize("tier", ["rest", "legacy"])
async def test_client_pinned_tier_delivers_and_matches_history(
    reference_server: ReferenceServer, api: Api, settings: Settings, tier: str
) -> None:
    async with await connect(reference_server, settings) as client:
        chat = await client.open("wellness_specialist", tier=tier)
        reply = await _ask_and_check(chat, api, f"Hello over {tier}")
        assert reply.tier is Tier(tier)
        assert chat.status is ConnectionStatus.DEGRADED


@pytest.mark.parametrize("tier", [None, "rest", "legacy"])
async def test_client_spec_profile_is_understood_on_every_tier(
    reference_server_factory: Any, api_factory: Any, settings: Settings, tier: str | None
) -> None:
    server = reference_server_factory(profile="spec")
    api = api_factory(server)
    await api.login()
    async with await connect(server, settings) as client:
        chat = await client.open("general_wellness", tier=tier)
        reply = await _ask_and_check(chat, api, "Hi from the spec profile")
        assert reply.tier is (Tier(tier) if tier else Tier.LIVE)


async def test_client_refused_upgrade_falls_back_to_rest_at_once(
    reference_server: ReferenceServer, api: Api, settings: Settings
) -> None:
    reference_server.set_faults(refuse_ws_upgrade=403)
    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist")
        started = time.monotonic()
        reply = await _ask_and_check(chat, api, "Refused upgrade, still answered?")
        elapsed = time.monotonic() - started
    assert reply.tier is Tier.REST
    assert [(c.previous, c.tier) for c in reply.tier_changes] in ([], [(Tier.LIVE, Tier.REST)])
    # the first REST polls plus a little: no backoff budget is spent on a refusal
    assert elapsed < first_gap(settings.rest_poll_schedule) + 2.0


async def test_client_unavailable_upgrade_demotes_after_five_attempts(
    reference_server: ReferenceServer, api: Api, settings: Settings
) -> None:
    reference_server.set_faults(refuse_ws_upgrade=503)
    attempts: list[str] = []

    async def counting_connector(url: str, **options: Any) -> Any:
        from websockets.asyncio.client import connect as ws_connect

        attempts.append(url)
        return await ws_connect(url, **options)

    async with await connect(reference_server, settings, ws_connector=counting_connector) as c:
        chat = await c.open("nutritionist")
        reply = await _ask_and_check(chat, api, "Unavailable upgrade")
    assert reply.tier is Tier.REST
    assert len(attempts) == settings.live_connect_attempts
    assert "token=" in attempts[0]


async def test_client_accept_then_close_does_not_hot_loop(
    reference_server: ReferenceServer, api: Api, settings: Settings
) -> None:
    reference_server.set_faults(ws_close_after_connect=True)
    attempts: list[float] = []

    async def counting_connector(url: str, **options: Any) -> Any:
        from websockets.asyncio.client import connect as ws_connect

        attempts.append(time.monotonic())
        return await ws_connect(url, **options)

    async with await connect(reference_server, settings, ws_connector=counting_connector) as c:
        chat = await c.open("nutritionist")
        reply = await _ask_and_check(chat, api, "Accept then close")
        await asyncio.sleep(settings.backoff_cap_s)
    assert reply.tier is Tier.REST
    # demoted after the attempt budget; no further attempts once on rest
    assert len(attempts) <= settings.live_connect_attempts + 1


@pytest.mark.parametrize("mode", ["clean", "abrupt"])
async def test_client_close_mid_stream_recovers_the_reply_exactly_once(
    reference_server: ReferenceServer, api: Api, settings: Settings, mode: str
) -> None:
    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist")
        await chat.wait_connected(5)
        reference_server.set_faults(ws_close_after_chunks=3, ws_close_mode=mode)
        events = [e async for e in chat.stream("/long 30 tell me a lot")]
        reference_server.clear_faults()
        done = events[-1]
        assert isinstance(done, ReplyCompleted)
        history = await api.messages(chat.id)
        same_messages(chat.transcript, history)
        stored_once(history, "/long 30 tell me a lot", done.reply)
        assert len([e for e in events if isinstance(e, ChunkReceived)]) >= 3
        assert len([e for e in events if isinstance(e, ReplyCompleted)]) == 1
        # the link comes back for the next turn
        assert (await chat.ask("again")).tier is Tier.LIVE


async def test_client_stall_is_detected_by_the_inactivity_deadline(
    reference_server: ReferenceServer, api: Api, settings: Settings
) -> None:
    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist")
        await chat.wait_connected(5)
        reference_server.set_faults(ws_stall_after_chunks=2)
        started = time.monotonic()
        reply = await _ask_and_check(chat, api, "stall please")
        elapsed = time.monotonic() - started
    assert settings.stream_inactivity_s <= elapsed < settings.turn_deadline_s
    assert reply.text


async def test_client_missing_stream_complete_still_completes(
    reference_server: ReferenceServer, api: Api, settings: Settings
) -> None:
    reference_server.set_faults(ws_omit_stream_complete=True)
    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist")
        reply = await _ask_and_check(chat, api, "no completion frame")
    assert reply.chunks > 1


async def test_client_packed_malformed_and_unknown_frames_are_skipped(
    reference_server: ReferenceServer, api: Api, settings: Settings
) -> None:
    reference_server.set_faults(ws_pack_events=4, ws_malformed_frames=True, ws_unknown_frames=True)
    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist")
        reply = await _ask_and_check(chat, api, "messy frames")
        assert reply.tier is Tier.LIVE
        assert chat.frames_skipped > 0


async def test_client_rate_limit_waits_without_changing_tier(
    reference_server: ReferenceServer, api: Api, settings: Settings
) -> None:
    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist", tier="rest")
        reference_server.set_faults(rate_limit_rate=0.5, rate_limit_retry_after_s=1)
        reply = await chat.ask("rate limited")
        reference_server.clear_faults()
        assert reply.tier is Tier.REST
        assert reply.tier_changes == ()
        history = await api.messages(chat.id)
        stored_once(history, "rate limited", reply)


async def test_client_server_errors_are_retried_on_rest(
    reference_server: ReferenceServer, api: Api, settings: Settings
) -> None:
    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist", tier="rest")
        reference_server.set_faults(http_error_rate=0.5, http_error_status=502)
        reply = await chat.ask("flaky server")
        reference_server.clear_faults()
        history = await api.messages(chat.id)
        same_messages(chat.transcript, history)
        stored_once(history, "flaky server", reply)


async def test_client_latency_shows_in_time_to_first_token(
    reference_server: ReferenceServer, settings: Settings
) -> None:
    reference_server.set_faults(latency_ms=200)
    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist")
        reply = await chat.ask("slow start")
    assert reply.ttft_s is not None
    assert reply.ttft_s >= 0.2


async def test_client_pinned_legacy_with_legacy_down_times_out_keeping_the_text(
    reference_server: ReferenceServer, settings: Settings
) -> None:
    from lume_widget.errors import TurnTimeoutError

    settings = dataclasses.replace(settings, turn_deadline_s=settings.stream_inactivity_s)
    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist", tier="legacy")
        reference_server.set_faults(legacy_down=True)
        # 503 with Retry-After: wait as asked, no tier change (PROTOCOL A3), until the deadline
        with pytest.raises(TurnTimeoutError, match="legacy chat channel is unavailable") as info:
            await chat.ask("legacy is down")
        assert chat.tier is Tier.LEGACY
    assert info.value.unsent_text == "legacy is down"


async def test_client_promotes_back_to_live_after_the_probe_interval(
    reference_server: ReferenceServer, api: Api, settings: Settings
) -> None:
    reference_server.set_faults(refuse_ws_upgrade=404)
    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist")
        first = await chat.ask("while refused")
        assert first.tier is Tier.REST
        reference_server.clear_faults()
        await asyncio.sleep(settings.probe_interval_s)
        second = await _ask_and_check(chat, api, "live again?")
    assert second.tier is Tier.LIVE
    assert [(c.previous, c.tier) for c in second.tier_changes] == [(Tier.REST, Tier.LIVE)]


async def test_client_simulated_drop_reconnects_and_keeps_working(
    reference_server: ReferenceServer, api: Api, settings: Settings
) -> None:
    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist")
        assert await chat.wait_connected(5) is ConnectionStatus.CONNECTED
        seen: list[Event] = []
        stream = chat.events()  # subscribed from this call on

        async def watch() -> None:
            async for event in stream:
                seen.append(event)

        watcher = asyncio.ensure_future(watch())
        await chat.simulate_live_drop()
        assert chat.status is ConnectionStatus.RECONNECTING
        assert await chat.wait_connected(5) is ConnectionStatus.CONNECTED
        reply = await _ask_and_check(chat, api, "after the drop")
        watcher.cancel()
    assert reply.tier is Tier.LIVE
    reasons = [e.reason for e in seen if isinstance(e, StatusChanged)]
    assert any("simulated drop" in r for r in reasons)


async def test_client_simulated_drop_mid_stream_recovers_once(
    reference_server: ReferenceServer, api: Api, settings: Settings
) -> None:
    reference_server.set_faults(chunk_delay_ms=20)
    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist")
        await chat.wait_connected(5)
        events: list[Event] = []
        async for event in chat.stream("/long 40 drop me"):
            events.append(event)
            if isinstance(event, ChunkReceived) and event.index == 2:
                await chat.simulate_live_drop()
        done = events[-1]
        assert isinstance(done, ReplyCompleted)
        history = await api.messages(chat.id)
        same_messages(chat.transcript, history)
        stored_once(history, "/long 40 drop me", done.reply)


async def test_client_tier_changes_are_events_with_reasons(
    reference_server: ReferenceServer, settings: Settings
) -> None:
    reference_server.set_faults(refuse_ws_upgrade=403)
    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist")
        events = chat.events()  # subscribed before the first connect attempt has run
        seen: list[Event] = []
        async for event in events:
            seen.append(event)
            if isinstance(event, TierChanged):
                break
    change = seen[-1]
    assert isinstance(change, TierChanged)
    assert (change.previous, change.tier) == (Tier.LIVE, Tier.REST)
    assert "403" in change.reason
    statuses = [e for e in seen if isinstance(e, StatusChanged)]
    assert all(e.reason for e in statuses)


async def test_client_refreshes_once_for_concurrent_callers_after_expiry(
    reference_server_factory: Any, time_scale: float
) -> None:
    # A JWT's exp is whole seconds, so a token lives between ttl - 1 and ttl seconds: the
    # refreshed token must outlive the six calls, or a second (rightful) refresh follows.
    ttl = 1 + math.ceil(time_scale)
    server = reference_server_factory(access_ttl_s=ttl)
    settings = client_settings(time_scale, refresh_margin_s=0.0)
    async with await connect(server, settings) as client:
        await client.list_consultations()
        await asyncio.sleep(ttl + 0.1)  # past the first token's expiry
        results = await asyncio.gather(*(client.list_consultations() for _ in range(6)))
        assert all(r == results[0] for r in results)
        assert client.auth.refresh_count == 1
        chat = await client.open("nutritionist")
        assert (await chat.ask("after refresh")).text


async def test_client_refreshes_proactively_before_expiry(
    reference_server_factory: Any, settings: Settings
) -> None:
    server = reference_server_factory(access_ttl_s=60)
    async with await connect(server, settings) as client:  # margin 300 s > lifetime
        await client.list_goals()
        await client.list_goals()
        assert client.auth.refresh_count >= 1


async def test_client_goal_aware_consultation_is_resumed_not_duplicated(
    reference_server: ReferenceServer, settings: Settings
) -> None:
    async with await connect(reference_server, settings) as client:
        goal = await client.create_goal(
            title="Walk 10k steps", goal_type="activity", target_value=10000, target_unit="steps"
        )
        assert goal.target == "10000 steps"
        assert goal.id in [g.id for g in await client.list_goals()]
        first = await client.open("wellness_specialist", goal_id=goal.id.upper())
        again = await client.open("wellness_specialist", goal_id=goal.id)
        assert first.id == again.id
        assert first.goal_id == goal.id
        other = await client.open("wellness_specialist")
        assert other.id != first.id
        listed = await client.list_consultations(persona="wellness_specialist")
        assert {c.id for c in listed} == {first.id, other.id}


async def test_client_reopens_an_existing_consultation_by_upper_case_id(
    reference_server: ReferenceServer, api: Api, settings: Settings
) -> None:
    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist")
        await chat.ask("first visit")
        again = await client.open(consultation_id=chat.id.upper())
        assert again.id == chat.id
        assert [m.id for m in again.transcript] == [m.id for m in chat.transcript]
        same_messages(again.transcript, await api.messages(chat.id))


async def test_client_too_many_consultations_is_a_clear_error(
    reference_server: ReferenceServer, settings: Settings
) -> None:
    from lume_widget.errors import TooManyConsultationsError

    async with await connect(reference_server, settings) as client:
        for _ in range(10):
            chat = await client.open("nutritionist", resume=False)
            await chat.aclose()
        with pytest.raises(TooManyConsultationsError, match="at most 10"):
            await client.open("nutritionist", resume=False)


async def test_client_conflict_on_create_adopts_the_existing_consultation(
    reference_server_factory: Any, settings: Settings
) -> None:
    server = reference_server_factory(conflict_on_duplicate=True)
    async with await connect(server, settings) as client:
        first = await client.open("fitness_coach", resume=False)
        second = await client.open("fitness_coach", resume=False)
        assert second.id == first.id


async def test_client_completed_consultation_rejects_sends_before_sending(
    reference_server: ReferenceServer, settings: Settings
) -> None:
    from lume_widget.errors import ConsultationNotActiveError

    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist")
        info = await chat.complete()
        assert info.status == "completed"
        with pytest.raises(ConsultationNotActiveError) as error:
            await chat.ask("anyone there?")
        assert error.value.unsent_text == "anyone there?"
        await chat.delete()
        await chat.delete()  # already deleted: still fine


async def test_client_server_side_not_active_is_reported_on_the_turn(
    reference_server: ReferenceServer, api: Api, settings: Settings
) -> None:
    from lume_widget.errors import ConsultationNotActiveError

    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist")
        await chat.wait_connected(5)
        await api.data("POST", f"/api/v1/consultations/{chat.id}/complete")
        with pytest.raises(ConsultationNotActiveError):
            await chat.ask("completed behind my back")


async def test_client_quick_actions_and_faults_api(
    reference_server: ReferenceServer, settings: Settings
) -> None:
    async with await connect(reference_server, settings) as client:
        actions = await client.quick_actions(persona="nutritionist")
        assert actions
        assert all(a.title for a in actions)
        assert client.is_reference_server
        assert client.server_kind == "reference"
        faults = await client.set_faults(latency_ms=5)
        assert faults["latency_ms"] == 5
        assert (await client.get_faults())["latency_ms"] == 5
        assert (await client.clear_faults())["latency_ms"] == 0
        assert reference_server.admin_token not in repr(client)


async def test_client_faults_need_the_admin_token(
    reference_server: ReferenceServer, settings: Settings
) -> None:
    from lume_widget.errors import ConfigurationError

    async with await connect(reference_server, settings, admin_token=None) as client:
        assert client.is_reference_server
        with pytest.raises(ConfigurationError, match="admin token"):
            await client.get_faults()


async def test_client_bad_input_is_rejected_before_sending(
    reference_server: ReferenceServer, settings: Settings
) -> None:
    from lume_widget.errors import InvalidIdError, InvalidMessageError, InvalidPersonaError

    async with await connect(reference_server, settings) as client:
        with pytest.raises(InvalidPersonaError, match="nutritionist"):
            await client.open("sleep_coach")
        with pytest.raises(InvalidIdError, match="not a UUID"):
            await client.open("nutritionist", goal_id="local-goal-1")
        with pytest.raises(InvalidIdError):
            await client.open(consultation_id="nope")
        chat = await client.open("nutritionist")
        with pytest.raises(InvalidMessageError, match="empty"):
            await chat.ask("   ")
        with pytest.raises(InvalidMessageError, match="5000") as too_long:
            await chat.ask("x" * 5001)
        assert too_long.value.unsent_text == "x" * 5001
        assert (await chat.ask("  " + "y" * 5000 + "  ")).text


async def test_client_wrong_credentials_and_dead_urls_are_clear(
    reference_server: ReferenceServer, settings: Settings
) -> None:
    from lume_widget.errors import AuthenticationError, ConfigurationError, ConnectionFailedError

    with pytest.raises(AuthenticationError, match="API key"):
        await connect(reference_server, settings, api_key="wrong-key")
    with pytest.raises(AuthenticationError):
        await connect(reference_server, settings, password="not-the-password")
    with pytest.raises(ConnectionFailedError, match="running"):
        await LumeClient.connect(
            "http://127.0.0.1:9", api_key="k", email="e@x.y", password="p" * 8, settings=settings
        )
    with pytest.raises(ConfigurationError, match="http"):
        await LumeClient.connect("ftp://example.com", api_key="k", token="t", settings=settings)
    with pytest.raises(ConfigurationError, match=r"Missing api_key= \(or LUME_API_KEY\)\."):
        await LumeClient.connect("http://127.0.0.1:9", token="t", api_key="", settings=settings)


async def test_client_logs_never_carry_secrets(
    reference_server: ReferenceServer, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist")
        await chat.ask("secret-free logs")
        token = client.auth._access_token
        assert token
    text = caplog.text
    for secret in (token, reference_server.api_key, reference_server.password):
        assert secret not in text
    assert "token=***" in text or "token=" not in text


async def test_client_consultation_connect_owns_its_client(
    reference_server: ReferenceServer, settings: Settings
) -> None:
    async with Consultation.connect(
        reference_server.url,
        persona="general_wellness",
        api_key=reference_server.api_key,
        email=reference_server.email,
        password=reference_server.password,
        settings=settings,
    ) as chat:
        reply = await chat.ask("hello")
        assert reply.consultation_id == chat.id
        assert len(await chat.history()) == len(chat.transcript)
    assert chat.status is ConnectionStatus.OFFLINE


class _CountingTransport(httpx.AsyncBaseTransport):
    """Forwards to a real transport and counts the history reads."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.history_reads = 0
        self.offsets: list[str | None] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/messages"):
            self.history_reads += 1
            self.offsets.append(request.url.params.get("offset"))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.mark.parametrize("with_message", [False, True])
async def test_client_live_turns_read_the_history_only_without_the_stored_reply(
    reference_server_factory: Callable[..., ReferenceServer],
    api_factory: Callable[[ReferenceServer], Api],
    settings: Settings,
    with_message: bool,
) -> None:
    server = reference_server_factory(complete_with_message=with_message)
    api = api_factory(server)
    await api.login()
    transport = _CountingTransport()
    async with await connect(server, settings, transport=transport) as client:
        chat = await client.open("nutritionist")
        assert transport.history_reads == 0  # a new consultation: its greeting came with it
        for text in ("First question", "Second question", "A third one"):
            reply = await _ask_and_check(chat, api, text)
            assert reply.tier is Tier.LIVE
    # the observed backend's stream_complete has no id: one read per turn to learn it, a page
    # from the turn's baseline (greeting, then two messages a turn), never the whole history
    assert transport.history_reads == (0 if with_message else 3)
    assert transport.offsets == ([] if with_message else ["1", "3", "5"])
