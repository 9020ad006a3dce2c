"""Every fault of the reference server does what it says, switched in-process or over /admin/faults."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import httpx
import pytest
import websockets
from conftest import Api, scaled, ws_events

from lume_widget.server import ReferenceServer


async def start_turn(api: Api, text: str = "Tips for better sleep?") -> tuple[str, Any]:
    cid = (await api.create())["consultation"]["id"]
    ws = await api.ws(cid)
    assert json.loads(await ws.recv())["type"] == "connected"
    await ws.send(json.dumps({"type": "message", "content": text}))
    return cid, ws


async def read_until_quiet(ws: Any, quiet: float = 0.3) -> tuple[list[str], Exception | None]:
    """Raw frames until nothing arrives for ``quiet`` seconds or the socket closes."""
    frames: list[str] = []
    try:
        while True:
            frames.append(await asyncio.wait_for(ws.recv(), scaled(quiet)))
    except TimeoutError:
        return frames, None
    except websockets.ConnectionClosed as exc:
        return frames, exc


def events_of(frames: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for frame in frames for line in frame.split("\n") if line.strip()]


async def stored_reply(api: Api, cid: str, count: int = 3) -> dict[str, Any]:
    async with asyncio.timeout(scaled(10)):
        while True:
            messages = await api.messages(cid)
            if len(messages) >= count:
                return messages[-1]
            await asyncio.sleep(0.02)


async def test_server_fault_refuse_ws_upgrade(api: Api, reference_server: ReferenceServer) -> None:
    cid = (await api.create())["consultation"]["id"]
    reference_server.set_faults(refuse_ws_upgrade=503)
    with pytest.raises(websockets.InvalidStatus) as caught:
        async with api.ws(cid):
            pass
    assert caught.value.response.status_code == 503
    assert (await api.request("GET", f"/api/v1/consultations/{cid}")).status_code == 200
    reference_server.clear_faults()
    async with api.ws(cid) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_server_refused_upgrades_log_no_handshake_error(
    api: Api, reference_server: ReferenceServer
) -> None:
    """A denied upgrade is a complete answer: uvicorn's "without completing handshake" is noise."""
    cid = (await api.create())["consultation"]["id"]
    recorder = Recorder()
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addHandler(recorder)
    try:
        for status in (403, 404, 503):
            reference_server.set_faults(refuse_ws_upgrade=status)
            with pytest.raises(websockets.InvalidStatus):
                async with api.ws(cid):
                    pass
        bad = {**api.headers, "Authorization": "Bearer not-a-token"}
        with pytest.raises(websockets.InvalidStatus):  # a denial without the fault: bad token
            async with api.ws(cid, additional_headers=bad):
                pass
        await asyncio.sleep(0.1)
    finally:
        uvicorn_log.removeHandler(recorder)
        reference_server.clear_faults()
    assert not [m for m in recorder.messages if "handshake" in m], recorder.messages


@pytest.mark.parametrize(("mode", "closed_ok"), [("clean", True), ("abrupt", False)])
async def test_server_fault_close_after_chunks(
    api: Api, reference_server: ReferenceServer, mode: str, closed_ok: bool
) -> None:
    reference_server.set_faults(ws_close_after_chunks=3, ws_close_mode=mode)
    cid, ws = await start_turn(api)
    frames, closed = await read_until_quiet(ws, quiet=5)
    events = events_of(frames)
    assert [e["type"] for e in events] == ["message_received"] + ["stream_chunk"] * 3
    assert isinstance(closed, websockets.ConnectionClosed)
    assert isinstance(closed, websockets.ConnectionClosedOK) is closed_ok
    if mode == "clean":
        assert ws.close_code == 1000
    else:
        assert ws.close_code == 1006  # no close frame: the TCP connection was reset
    reply = await stored_reply(api, cid)
    assert reply["content"].startswith("".join(e["content"] for e in events[1:]))
    assert len(reply["content"]) > len("".join(e["content"] for e in events[1:]))


async def test_server_fault_close_after_connect(
    api: Api, reference_server: ReferenceServer
) -> None:
    cid = (await api.create())["consultation"]["id"]
    reference_server.set_faults(ws_close_after_connect=True)
    async with api.ws(cid) as ws:
        frames, closed = await read_until_quiet(ws, quiet=5)
    assert [e["type"] for e in events_of(frames)] == ["connected"]
    assert isinstance(closed, websockets.ConnectionClosedOK)


async def test_server_fault_stall_still_answers_pings(
    api: Api, reference_server: ReferenceServer
) -> None:
    reference_server.set_faults(ws_stall_after_chunks=2)
    cid, ws = await start_turn(api)
    async with ws:
        events = [json.loads(await ws.recv()) for _ in range(3)]
        assert [e["type"] for e in events] == ["message_received", "stream_chunk", "stream_chunk"]
        reply = await stored_reply(api, cid)  # the reply is finished and stored meanwhile
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), scaled(5)))["type"] == "pong"
    assert len(reply["content"]) > len(events[1]["content"] + events[2]["content"])


async def test_server_fault_omit_stream_complete(
    api: Api, reference_server: ReferenceServer
) -> None:
    reference_server.set_faults(ws_omit_stream_complete=True)
    cid, ws = await start_turn(api)
    async with ws:
        reply = await stored_reply(api, cid)
        await ws.send(json.dumps({"type": "ping"}))
        events = await ws_events(ws, until="pong")
    kinds = [e["type"] for e in events]
    assert "stream_complete" not in kinds
    assert "".join(e["content"] for e in events if e["type"] == "stream_chunk") == reply["content"]


async def test_server_fault_pack_events_puts_several_per_frame(
    api: Api, reference_server: ReferenceServer
) -> None:
    reference_server.set_faults(ws_pack_events=4)
    cid, ws = await start_turn(api)
    async with ws:
        frames: list[str] = []
        while not any('"stream_complete"' in f for f in frames):
            frames.append(await asyncio.wait_for(ws.recv(), scaled(5)))
    events = events_of(frames)
    assert all(len(f.split("\n")) <= 4 for f in frames)
    assert sum(len(f.split("\n")) == 4 for f in frames) >= len(frames) - 1
    assert len(frames) < len(events)
    reply = await stored_reply(api, cid)
    assert "".join(e["content"] for e in events if e["type"] == "stream_chunk") == reply["content"]


async def test_server_fault_malformed_and_unknown_frames_are_interleaved(
    api: Api, reference_server: ReferenceServer
) -> None:
    reference_server.set_faults(ws_malformed_frames=True, ws_unknown_frames=True)
    cid, ws = await start_turn(api)
    good: list[dict[str, Any]] = []
    malformed = 0
    async with ws:
        while not good or good[-1]["type"] != "stream_complete":
            frame = await asyncio.wait_for(ws.recv(), scaled(5))
            try:
                good.append(json.loads(frame))
            except ValueError:
                malformed += 1
    chunks = [e for e in good if e["type"] == "stream_chunk"]
    unknown = [e for e in good if e["type"] == "typing_indicator"]
    assert malformed == len(chunks)
    assert len(unknown) == len(chunks)
    reply = await stored_reply(api, cid)
    assert "".join(e["content"] for e in chunks) == reply["content"]


async def test_server_fault_http_error_rate_is_deterministic(
    api: Api, reference_server: ReferenceServer
) -> None:
    reference_server.set_faults(http_error_rate=0.5, http_error_status=503)
    statuses = [(await api.request("GET", "/api/v1/consultations")).status_code for _ in range(6)]
    assert statuses == [200, 503, 200, 503, 200, 503]
    failed = None
    while failed is None:
        response = await api.request("GET", "/api/v1/consultations")
        failed = response if response.status_code == 503 else None
    assert failed.json()["error"]["code"] == "INJECTED_FAULT"
    async with httpx.AsyncClient() as http:
        assert (await http.get(reference_server.url + "/healthz")).status_code == 200


async def test_server_fault_rate_limit_sends_retry_after(
    api: Api, reference_server: ReferenceServer
) -> None:
    reference_server.set_faults(rate_limit_rate=1.0, rate_limit_retry_after_s=7)
    response = await api.request("GET", "/api/v1/consultations")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert "retry after 7 s" in response.json()["error"]["message"]


async def _time_a_socket_reply(api: Api, cid: str, text: str) -> tuple[list[Any], float]:
    """Send ``text`` on the socket: the reply's events and the time from ``message_received``."""
    async with api.ws(cid) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "message", "content": text}))
        assert json.loads(await ws.recv())["type"] == "message_received"
        started = time.monotonic()
        events = await ws_events(ws)
        return events, time.monotonic() - started


async def test_server_fault_latency_delays_rest_and_first_chunk(
    api: Api, reference_server: ReferenceServer
) -> None:
    cid = (await api.create())["consultation"]["id"]
    reference_server.set_faults(latency_ms=300)
    started = time.monotonic()
    await api.request("GET", f"/api/v1/consultations/{cid}")
    assert time.monotonic() - started >= 0.3
    events, elapsed = await _time_a_socket_reply(api, cid, "hi")
    assert events[0]["type"] == "stream_chunk"
    assert elapsed >= 0.29


async def test_server_fault_chunk_delay_paces_the_stream(
    api: Api, reference_server: ReferenceServer
) -> None:
    reference_server.set_faults(chunk_delay_ms=20)
    _, ws = await start_turn(api, "/long 15")
    started = time.monotonic()
    async with ws:
        events = await ws_events(ws)
    assert sum(e["type"] == "stream_chunk" for e in events) == 15
    assert time.monotonic() - started >= 15 * 0.02


async def test_server_fault_legacy_down(api: Api, reference_server: ReferenceServer) -> None:
    cid = (await api.create())["consultation"]["id"]
    reference_server.set_faults(legacy_down=True)
    legacy = await api.request("GET", f"/api/v1/wellness/ai/chat/conversations/{cid}/messages")
    assert legacy.status_code == 503
    with pytest.raises(websockets.InvalidStatus) as caught:
        async with api.ws(cid, legacy=True):
            pass
    assert caught.value.response.status_code == 503
    assert (await api.request("GET", f"/api/v1/consultations/{cid}/messages")).status_code == 200
    async with api.ws(cid) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"


async def test_server_admin_api_reads_merges_and_clears(reference_server: ReferenceServer) -> None:
    url = reference_server.url + "/admin/faults"
    headers = {"X-Admin-Token": reference_server.admin_token}
    async with httpx.AsyncClient() as http:
        assert (await http.get(url)).status_code == 401
        assert (await http.get(url, headers={"X-Admin-Token": "wrong"})).status_code == 401
        proxied = await http.get(url, headers={**headers, "X-Forwarded-For": "203.0.113.9"})
        assert proxied.status_code == 403
        put = await http.put(url, headers=headers, json={"ws_close_after_chunks": 2})
        assert put.status_code == 200
        assert put.json()["data"]["ws_close_after_chunks"] == 2
        await http.put(url, headers=headers, json={"latency_ms": 5})
        data = (await http.get(url, headers=headers)).json()["data"]
        assert (data["ws_close_after_chunks"], data["latency_ms"]) == (2, 5)
        assert reference_server.faults.ws_close_after_chunks == 2
        unknown = await http.put(url, headers=headers, json={"explode": True})
        assert unknown.status_code == 400
        assert "unknown fault 'explode'" in unknown.json()["error"]["message"]
        wrong_type = await http.put(url, headers=headers, json={"http_error_rate": 2})
        assert wrong_type.status_code == 400
        cleared = await http.delete(url, headers=headers)
        assert cleared.json()["data"]["ws_close_after_chunks"] is None
    assert reference_server.faults.active() == {}


def test_server_set_faults_rejects_unknown_names(reference_server: ReferenceServer) -> None:
    with pytest.raises(ValueError, match="unknown fault 'nope'"):
        reference_server.set_faults(nope=1)


async def test_server_fault_reply_delay_slows_replies_not_routes(
    api: Api, reference_server: ReferenceServer
) -> None:
    cid = (await api.create())["consultation"]["id"]
    greeted = [m["role"] for m in await api.messages(cid)].count("assistant")
    reference_server.set_faults(reply_delay_ms=300)
    started = time.monotonic()
    sent = await api.request(
        "POST", f"/api/v1/consultations/{cid}/messages", json={"content": "hi"}
    )
    assert sent.status_code in (201, 202)
    listed = await api.request("GET", f"/api/v1/consultations/{cid}/messages")
    assert time.monotonic() - started < 0.25  # routes answer at once
    assert [m["role"] for m in listed.json()["data"]["messages"]][-1] == "user"
    events, elapsed = await _time_a_socket_reply(api, cid, "hi again")
    assert "stream_chunk" in [e["type"] for e in events]
    assert elapsed >= 0.29
    roles = [m["role"] for m in await api.messages(cid)]
    assert roles.count("assistant") == greeted + 2  # the REST reply was stored after its delay
