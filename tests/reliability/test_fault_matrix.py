"""Fault matrix: each fault of the issue against the real client, all ending with the same oracle.

Faults come from the reference server (``set_faults``) or from the TCP relay of this folder
(resets, half-open connections, one byte per TCP segment, lost answers, rewritten frames).
Every case ends with ``Rig.check`` (transcript equals history by id, role, order and content;
each user message stored once; each reply shown once) and ``Rig.close`` (no task or socket of
the client left behind). Client timings are the production defaults times one factor (see
conftest), so a detection time of ``x`` here means ``x / factor`` in production.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from lume_widget.core.events import (
    ChunkReceived,
    ConnectionStatus,
    StatusChanged,
    Tier,
)
from lume_widget.errors import ServerError, TurnCancelledError
from lume_widget.server import ReferenceServer

from .conftest import Figures
from .harness import WrongReply, client_settings, duplicate_chunks, rig
from .support import eventually

LIVE_DOWN = (ConnectionStatus.RECONNECTING, ConnectionStatus.DEGRADED, ConnectionStatus.OFFLINE)


def since(start: float) -> float:
    return round(time.monotonic() - start, 3)


# -- baseline --------------------------------------------------------------------------------


async def test_no_fault_turns_stream_live_and_match_history(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    async with rig(reference_server, time_scale) as r:
        await r.wait_status(ConnectionStatus.CONNECTED)
        first = await r.turn("What should I eat before a morning run?")
        await r.turn("And after it?")
        assert first.replies[0].reply.tier is Tier.LIVE
        assert first.replies[0].reply.chunks > 3
        await r.check()
        await r.close()


# -- refused upgrades and handshake errors -----------------------------------------------------


@pytest.mark.parametrize("status", [403, 404])
async def test_upgrade_refused_outright_falls_back_to_rest_at_once(
    reference_server: ReferenceServer, time_scale: float, figures: Figures, status: int
) -> None:
    reference_server.set_faults(refuse_ws_upgrade=status)
    started = time.monotonic()
    async with rig(reference_server, time_scale) as r:
        await r.wait_event(StatusChanged, started, status=ConnectionStatus.DEGRADED)
        fallback_s = since(started)
        record = await r.turn("Is oatmeal a good breakfast?")
        assert record.replies[0].reply.tier is Tier.REST
        assert [c.tier for c in r.tier_changes()] == [Tier.REST]
        await r.check()
        figures.record(f"fault: upgrade refused {status}", fallback_to_rest_s=fallback_s)
        await r.close()


async def test_handshake_5xx_retries_its_budget_then_falls_back_to_rest(
    reference_server: ReferenceServer, time_scale: float, figures: Figures
) -> None:
    reference_server.set_faults(refuse_ws_upgrade=503)
    started = time.monotonic()
    async with rig(reference_server, time_scale, relay=True) as r:
        await r.wait_event(StatusChanged, started, status=ConnectionStatus.DEGRADED)
        fallback_s = since(started)
        attempts = r.relay.accepted if r.relay else 0
        record = await r.turn("Is oatmeal a good breakfast?")
        assert record.replies[0].reply.tier is Tier.REST
        assert r.settings.live_connect_attempts <= attempts <= r.settings.live_connect_attempts + 3
        await r.check()
        figures.record(
            "fault: handshake 503", fallback_to_rest_s=fallback_s, upgrade_attempts=attempts
        )
        await r.close()


# -- closes mid-stream -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["clean", "abrupt"])
async def test_close_mid_stream_recovers_the_reply_exactly_once(
    reference_server: ReferenceServer, time_scale: float, figures: Figures, mode: str
) -> None:
    reference_server.set_faults(ws_close_after_chunks=3, ws_close_mode=mode)
    async with rig(reference_server, time_scale) as r:
        await r.wait_status(ConnectionStatus.CONNECTED)
        record = await r.turn("How much protein do I need?")
        reply = record.replies[0].reply
        reference_server.clear_faults()
        await r.turn("Thanks, and on rest days?")
        await r.check()
        figures.record(
            f"fault: {mode} close after 3 chunks", recovered_in_s=round(reply.duration_s, 3)
        )
        await r.close()


# -- half-open connections (relay swallows everything, closes nothing) --------------------------


async def test_half_open_idle_socket_is_detected_within_ping_interval_plus_timeout(
    reference_server: ReferenceServer, time_scale: float, figures: Figures
) -> None:
    async with rig(reference_server, time_scale, relay=True) as r:
        await r.wait_status(ConnectionStatus.CONNECTED)
        assert r.relay is not None
        started = time.monotonic()
        assert r.relay.blackhole() >= 1
        # The keepalive times out within interval + timeout, and the link is dropped at once
        # (no closing handshake waited for: the peer will never answer it).
        keepalive = r.settings.app_ping_interval_s + r.settings.app_pong_timeout_s
        limit = keepalive
        detected = await r.wait_event(
            StatusChanged, started, timeout=3 * limit, status=ConnectionStatus.RECONNECTING
        )
        detection_s = round(detected - started, 3)
        assert detection_s <= limit + 0.25 * time_scale
        await r.wait_status(ConnectionStatus.CONNECTED)
        await r.turn("Can I drink coffee before training?")
        await r.check()
        figures.record(
            "fault: half-open idle socket",
            detected_s=detection_s,
            keepalive_limit_s=round(keepalive, 3),
        )
        await r.close()


async def test_half_open_mid_stream_is_detected_and_the_reply_recovered(
    reference_server: ReferenceServer, time_scale: float, figures: Figures
) -> None:
    reference_server.set_faults(chunk_delay_ms=int(20 * time_scale))
    async with rig(reference_server, time_scale, relay=True) as r:
        await r.wait_status(ConnectionStatus.CONNECTED)
        assert r.relay is not None
        relay = r.relay
        cut: list[float] = []

        def blackhole(index: int) -> None:
            if index == 2 and not cut:
                cut.append(time.monotonic())
                relay.blackhole()

        record = await r.turn("Plan my meals for a long ride", on_chunk=blackhole)
        detected = next(
            at
            for at, e in r.all_events
            if at > cut[0] and isinstance(e, StatusChanged) and e.status in LIVE_DOWN
        )
        limit = min(
            r.settings.stream_inactivity_s,
            r.settings.app_ping_interval_s + r.settings.app_pong_timeout_s,
        )
        detection_s = round(detected - cut[0], 3)
        assert detection_s <= limit + 0.5 * time_scale
        await r.check()
        figures.record(
            "fault: half-open mid-stream",
            detected_s=detection_s,
            limit_s=round(limit, 3),
            reply_complete_s=round(record.replies[0].reply.duration_s, 3),
        )
        await r.close()


# -- stalls and missing completion ---------------------------------------------------------------


async def test_stall_with_pongs_answered_is_detected_by_the_inactivity_deadline(
    reference_server: ReferenceServer, time_scale: float, figures: Figures
) -> None:
    reference_server.set_faults(ws_stall_after_chunks=3)
    async with rig(reference_server, time_scale) as r:
        await r.wait_status(ConnectionStatus.CONNECTED)
        record = await r.turn("Which snacks keep me full?")
        last_chunk = max(at for at, e in record.events if isinstance(e, ChunkReceived))
        completed = record.first(type(record.replies[0]))
        assert completed is not None
        detection_s = round(completed - last_chunk, 3)
        inactivity = r.settings.stream_inactivity_s
        assert inactivity - 0.05 <= detection_s <= inactivity + 1.0 * time_scale
        assert len(record.chunks) == 3
        reference_server.clear_faults()
        await r.turn("And for the evening?")
        await r.check()
        figures.record(
            "fault: stall after 3 chunks (pongs answered)",
            recovered_after_last_chunk_s=detection_s,
            inactivity_deadline_s=round(inactivity, 3),
        )
        await r.close()


async def test_missing_stream_complete_still_completes_the_reply_once(
    reference_server: ReferenceServer, time_scale: float, figures: Figures
) -> None:
    reference_server.set_faults(ws_omit_stream_complete=True)
    async with rig(reference_server, time_scale) as r:
        await r.wait_status(ConnectionStatus.CONNECTED)
        record = await r.turn("Is it fine to skip breakfast?")
        await r.check()
        figures.record(
            "fault: no stream_complete", completed_in_s=round(record.replies[0].reply.duration_s, 3)
        )
        await r.close()


# -- frames: duplicated, batched, sliced, malformed, unknown, binary, oversized ---------------------


async def test_duplicated_chunks_are_shown_once_as_the_server_stored_them(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    async with rig(reference_server, time_scale, frame_transform=duplicate_chunks) as r:
        await r.wait_status(ConnectionStatus.CONNECTED)
        record = await r.turn("What is a balanced lunch?")
        stored = await r.check()
        assert record.replies[0].reply.text == stored[-1]["content"]
        await r.close()


async def test_batched_frames_are_split_and_nothing_is_lost(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    reference_server.set_faults(ws_pack_events=5)
    async with rig(reference_server, time_scale) as r:
        await r.wait_status(ConnectionStatus.CONNECTED)
        record = await r.turn("How do I eat more vegetables?")
        assert "".join(c.text for c in record.chunks) == record.replies[0].reply.text
        await r.check()
        await r.close()


async def test_one_byte_per_tcp_segment_changes_nothing(
    reference_server: ReferenceServer, time_scale: float, figures: Figures
) -> None:
    async with rig(reference_server, time_scale, slice_segments=True) as r:
        await r.wait_status(ConnectionStatus.CONNECTED, timeout=20)
        record = await r.turn("Are eggs healthy?", timeout=60)
        reply = record.replies[0].reply
        assert reply.tier is Tier.LIVE
        assert "".join(c.text for c in record.chunks) == reply.text
        await r.check()
        figures.record("fault: one byte per TCP segment", reply_s=round(reply.duration_s, 3))
        await r.close()


def inject_binary(opcode: int, payload: bytes) -> list[tuple[int, bytes]]:
    if opcode == 1:
        return [(2, b"\x00\xffbinary noise"), (opcode, payload)]
    return [(opcode, payload)]


async def test_malformed_unknown_and_binary_frames_are_skipped(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    reference_server.set_faults(ws_malformed_frames=True, ws_unknown_frames=True)
    async with rig(reference_server, time_scale, frame_transform=inject_binary) as r:
        await r.wait_status(ConnectionStatus.CONNECTED)
        record = await r.turn("Should I take vitamin D?")
        assert record.replies[0].reply.tier is Tier.LIVE
        assert r.chat.frames_skipped >= 3 * len(record.chunks)
        await r.check()
        await r.close()


async def test_frame_over_the_size_limit_drops_the_link_and_the_reply_is_recovered(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    sent: list[int] = []
    huge = "x" * (2**22 + 1)  # one byte over the client's max_size

    def oversize(opcode: int, payload: bytes) -> list[tuple[int, bytes]]:
        if opcode == 1 and b'"stream_chunk"' in payload and not sent:
            sent.append(1)
            event = {"type": "stream_chunk", "content": huge}
            return [(opcode, payload), (1, json.dumps(event).encode())]
        return [(opcode, payload)]

    async with rig(reference_server, time_scale, frame_transform=oversize) as r:
        await r.wait_status(ConnectionStatus.CONNECTED)
        record = await r.turn("What about fibre?")
        assert sent
        assert huge not in record.replies[0].reply.text
        await r.check()
        await r.close()


# -- REST: rate limits, 5xx bursts, refresh --------------------------------------------------------


async def test_rest_429_with_retry_after_waits_and_keeps_the_tier(
    reference_server: ReferenceServer, time_scale: float, figures: Figures
) -> None:
    async with rig(reference_server, time_scale, tier="rest") as r:
        reference_server.set_faults(rate_limit_rate=0.5, rate_limit_retry_after_s=1)
        record = await r.turn("How many meals a day?")
        reply = record.replies[0].reply
        assert reply.tier is Tier.REST
        assert reply.tier_changes == ()
        reference_server.clear_faults()
        await r.check()
        figures.record(
            "fault: REST 429 every other request, Retry-After 1 s",
            reply_s=round(reply.duration_s, 3),
        )
        await r.close()


async def test_rest_5xx_on_every_other_request_is_retried_without_duplicating_the_message(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    async with rig(reference_server, time_scale, tier="rest") as r:
        reference_server.set_faults(http_error_rate=0.5, http_error_status=500)
        record = await r.turn("Is fruit juice healthy?")
        reference_server.clear_faults()
        assert record.replies[0].reply.tier is Tier.REST
        await r.check()
        await r.close()


async def test_rest_5xx_burst_while_reconciling_a_live_reply_is_retried(
    reference_server: ReferenceServer, time_scale: float, figures: Figures
) -> None:
    async with rig(reference_server, time_scale) as r:
        await r.wait_status(ConnectionStatus.CONNECTED)
        reference_server.set_faults(http_error_rate=1.0, http_error_status=503)

        async def end_burst() -> None:
            await asyncio.sleep(0.3 * time_scale)
            reference_server.clear_faults()

        ender = asyncio.create_task(end_burst(), name="harness-burst")
        record = await r.turn("Is fruit juice healthy?")
        await ender
        reply = record.replies[0].reply
        await r.check()
        figures.record(
            "fault: REST 503 burst of 0.3 s during a live turn", reply_s=round(reply.duration_s, 3)
        )
        await r.close()


async def test_rest_5xx_burst_longer_than_the_retry_budget_fails_the_turn_and_keeps_the_text(
    reference_server: ReferenceServer, time_scale: float, figures: Figures
) -> None:
    async with rig(reference_server, time_scale, tier="rest") as r:
        reference_server.set_faults(http_error_rate=1.0, http_error_status=503)
        record = await r.turn("Is fruit juice healthy?")
        reference_server.clear_faults()
        assert record.error is not None
        assert record.error.unsent_text == "Is fruit juice healthy?"
        assert "retry" in str(record.error).lower() or "again" in str(record.error).lower()
        await r.turn("Trying again: is fruit juice healthy?")
        stored = await r.check(failed_turns=1)
        assert not [m for m in stored if m["content"] == "Is fruit juice healthy?"]
        figures.record(
            "fault: REST 503 with no end (pinned rest)",
            turn_failed_after_s=round(record.events[-1][0] - record.events[0][0], 3),
            error=type(record.error).__name__,
        )
        await r.close()


async def test_rest_5xx_without_end_is_reported_as_a_server_error(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    async with rig(reference_server, time_scale, tier="rest") as r:
        reference_server.set_faults(http_error_rate=1.0, http_error_status=503)
        record = await r.turn("Is fruit juice healthy?")
        reference_server.clear_faults()
        assert isinstance(record.error, ServerError)
        assert "network" not in str(record.error)
        await r.close()


async def test_expired_token_is_refreshed_once_on_rest_and_websocket(
    reference_server_factory: Callable[..., ReferenceServer], time_scale: float
) -> None:
    server = reference_server_factory(access_ttl_s=1)
    settings = dataclasses.replace(client_settings(time_scale), refresh_margin_s=0)
    async with rig(server, time_scale, settings=settings) as r:
        await r.wait_status(ConnectionStatus.CONNECTED)
        await r.turn("First question about hydration")
        await asyncio.sleep(1.2)  # the access token's lifetime: nothing to await
        await r.chat.simulate_live_drop()
        await r.turn("Second question about hydration")
        auth = r.client.auth
        assert auth.refresh_count >= 1
        assert auth.login_count == 1
        await r.check()
        await r.close()


# -- lost answers: the request was executed, the client never heard -------------------------------


async def test_rest_send_whose_answer_is_lost_is_not_stored_twice(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    async with rig(reference_server, time_scale, relay=True, tier="rest") as r:
        assert r.relay is not None
        r.relay.lose_response_to(f"POST /api/v1/consultations/{r.chat.id}/messages".encode())
        await r.turn("Should I count calories?")
        assert r.relay.responses_lost == 1
        await r.check()
        await r.close()


async def test_live_send_whose_answer_is_lost_is_not_sent_twice(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    async with rig(reference_server, time_scale, relay=True) as r:
        await r.wait_status(ConnectionStatus.CONNECTED)
        assert r.relay is not None
        r.relay.lose_response_after_first_text_frame()
        await r.turn("Is intermittent fasting safe?")
        assert r.relay.responses_lost == 1
        await r.check()
        await r.close()


# -- the server goes away ------------------------------------------------------------------------


async def test_server_restart_between_turns_loses_nothing(
    reference_server_factory: Callable[..., ReferenceServer],
    time_scale: float,
    tmp_path: Path,
    figures: Figures,
) -> None:
    db = str(tmp_path / "lume.sqlite3")
    first = reference_server_factory(db=db)
    async with rig(first, time_scale, relay=True) as r:
        assert r.relay is not None
        await r.wait_status(ConnectionStatus.CONNECTED)
        await r.turn("Before the restart: what is a good dinner?")
        stopped = time.monotonic()
        await asyncio.to_thread(first.stop)
        await r.wait_event(StatusChanged, stopped, status=ConnectionStatus.RECONNECTING)
        second = reference_server_factory(db=db)
        r.relay.upstream_port = second.port
        await r.retarget(second)
        await r.wait_status(ConnectionStatus.CONNECTED, timeout=20)
        back_s = since(stopped)
        await r.turn("After the restart: and a good breakfast?")
        await r.check()
        figures.record("fault: server restart between turns", live_again_after_s=back_s)
        await r.close()


async def test_all_tiers_down_then_back(
    reference_server: ReferenceServer, time_scale: float, figures: Figures
) -> None:
    async with rig(reference_server, time_scale, relay=True) as r:
        assert r.relay is not None
        relay = r.relay
        await r.wait_status(ConnectionStatus.CONNECTED)
        relay.refuse(True)
        await relay.reset()
        down = time.monotonic()

        async def come_back() -> None:
            await asyncio.sleep(1.0 * time_scale)
            relay.refuse(False)

        back = asyncio.create_task(come_back(), name="harness-come-back")
        record = await r.turn("Does anyone hear me?")
        await back
        outcome = "failed" if record.error is not None else "completed"
        # every tier fails, the turn starts again from live, and completes once they are back
        assert record.error is None, f"the turn did not outlive a 1 s outage: {record.error!r}"
        assert Tier.LIVE in [c.tier for c in r.tier_changes()]
        await r.turn("Now that you are back: what about lunch?")
        await r.check()
        figures.record(
            "fault: every tier down for 1 s",
            first_turn=outcome,
            first_turn_s=round(record.events[-1][0] - down, 3),
            tiers=[c.tier.value for c in r.tier_changes()],
        )
        await r.close()


# -- the user stops a reply ----------------------------------------------------------------------


async def test_user_cancel_mid_stream_keeps_the_partial_text_and_the_stored_reply_once(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    reference_server.set_faults(chunk_delay_ms=int(20 * time_scale))
    async with rig(reference_server, time_scale) as r:
        await r.wait_status(ConnectionStatus.CONNECTED)

        async def stop(index: int) -> None:
            if index == 2:
                await r.chat.stop()

        record = await r.turn("Tell me everything about carbohydrates", on_chunk=stop)
        assert isinstance(record.error, TurnCancelledError)
        assert record.error.partial_text
        reference_server.clear_faults()

        async def replies() -> int:
            return sum(m["role"] == "assistant" for m in await r.server_history())

        # The stopped message is answered anyway, whole, at the pace it began with (greeting +
        # that reply). As in the REST case, wait for it: stored after the next turn's history
        # read, it would reach the transcript only with the history load after that.
        await eventually(lambda: _at_least(replies(), 2), 10 * time_scale, "the stopped reply")
        second = await r.turn("Short version please")
        # What streamed in for the second question must be the reply it ends with.
        streamed = "".join(chunk.text for chunk in second.chunks)
        if streamed != second.replies[0].reply.text:
            raise WrongReply("the second turn streamed the rest of the stopped reply")
        await r.check(failed_turns=1)
        await r.close()


# -- the other wire profile ------------------------------------------------------------------------


async def test_faults_in_the_spec_profile_lose_nothing(
    reference_server_factory: Callable[..., ReferenceServer], time_scale: float
) -> None:
    """The 0.34 OpenAPI shapes (success flags, string errors, 202 Message on send) under faults."""
    server = reference_server_factory(profile="spec")
    async with rig(server, time_scale, relay=True) as r:
        assert r.relay is not None
        await r.wait_status(ConnectionStatus.CONNECTED)
        server.set_faults(ws_close_after_chunks=2, ws_close_mode="abrupt")
        await r.turn("Spec profile, live: what is a good snack?")
        server.clear_faults()
        r.chat.pin_tier("rest")
        server.set_faults(http_error_rate=0.5)
        await r.turn("Spec profile, REST with errors: and a second snack?")
        server.clear_faults()
        r.relay.lose_response_to(f"POST /api/v1/consultations/{r.chat.id}/messages".encode())
        await r.turn("Spec profile, REST with a lost answer: and a third?")
        assert r.relay.responses_lost == 1
        await r.check()
        await r.close()


async def test_legacy_socket_reset_mid_turn_recovers_the_reply_once(
    reference_server: ReferenceServer, time_scale: float, figures: Figures
) -> None:
    # latency_ms delays every REST answer and the stored reply: time to cut the socket.
    reference_server.set_faults(latency_ms=int(300 * time_scale))
    async with rig(reference_server, time_scale, relay=True, tier="legacy") as r:
        assert r.relay is not None
        relay = r.relay
        await r.wait_status(ConnectionStatus.DEGRADED)  # a pinned lower tier is degraded
        reset_at: list[float] = []

        async def stored() -> bool:
            return any(m["role"] == "user" for m in await r.server_history())

        async def reset_after_send() -> None:
            # The server holds the message and is still writing the reply.
            await eventually(stored, 10 * time_scale, "the user message to be stored")
            reset_at.append(time.monotonic())
            await relay.reset()

        resetter = asyncio.create_task(reset_after_send(), name="harness-reset")
        record = await r.turn("Legacy tier: how much water per day?")
        await resetter
        reply = record.replies[0].reply
        assert reply.tier is Tier.LEGACY
        assert reset_at
        assert record.events[-1][0] - reset_at[0] > 0.1 * time_scale  # the reply came later
        await r.check()
        figures.record(
            "fault: legacy socket reset mid-turn",
            reply_after_reset_s=round(record.events[-1][0] - reset_at[0], 3),
        )
        await r.close()


async def test_user_cancel_on_rest_shows_the_late_reply_once_and_the_next_its_own(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    async with rig(reference_server, time_scale, tier="rest") as r:
        reference_server.set_faults(latency_ms=int(300 * time_scale))

        async def count(role: str) -> int:
            return sum(m["role"] == role for m in await r.server_history())

        async def stop_once_stored() -> None:
            await eventually(lambda: _at_least(count("user"), 1), 10 * time_scale, "the message")
            await r.chat.stop()

        stopper = asyncio.create_task(stop_once_stored(), name="harness-stopper")
        first = await r.turn("REST: tell me everything about fibre")
        await stopper
        assert isinstance(first.error, TurnCancelledError)
        reference_server.clear_faults()
        # The stopped message is answered anyway (greeting + that reply): wait for it.
        await eventually(lambda: _at_least(count("assistant"), 2), 10 * time_scale, "the reply")
        await r.turn("REST: the short version please")
        stored = await r.check(failed_turns=1)
        assert [m["role"] for m in stored] == [
            "assistant",
            "user",
            "assistant",
            "user",
            "assistant",
        ]
        await r.close()


async def _at_least(value: Awaitable[int], minimum: int) -> bool:
    return await value >= minimum
