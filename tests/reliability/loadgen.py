"""Load generator for test_load.py, run as a separate process so the server's process measures alone.

Reads a JSON plan on standard input::

    {"ws_url": ..., "api_key": ..., "message": ..., "turns": 1, "hold_s": 0,
     "streams": [{"consultation_id": ..., "token": ...}, ...],
     "idle": [{"consultation_id": ..., "token": ...}, ...]}

then (1) opens every idle socket and waits for its ``connected`` event, prints ``IDLE-READY``;
(2) streams one turn (or ``turns`` turns) on every stream consultation at once, each on its own
socket, keeping the text of every ``stream_chunk``; (3) checks every idle socket still answers
an application ping; (4) prints one JSON line with the results. Speaks the wire protocol with
plain ``websockets``: it measures the server, not the client.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from typing import Any

import websockets

CONNECT_CONCURRENCY = 64
OPEN_TIMEOUT_S = 30.0


def raise_fd_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, max(soft, wanted))
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def events(frame: str | bytes) -> list[dict[str, Any]]:
    text = frame.decode() if isinstance(frame, bytes) else frame
    return [json.loads(line) for line in text.split("\n") if line.strip()]


async def open_socket(plan: dict[str, Any], target: dict[str, Any]) -> Any:
    url = f"{plan['ws_url']}/api/v1/consultations/{target['consultation_id']}/ws"
    headers = {"X-API-Key": plan["api_key"], "Authorization": f"Bearer {target['token']}"}
    socket = await websockets.connect(url, additional_headers=headers, open_timeout=OPEN_TIMEOUT_S)
    first = events(await socket.recv())
    assert first[0]["type"] == "connected", first
    return socket


async def stream_turns(plan: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"consultation_id": target["consultation_id"], "turns": []}
    started = time.monotonic()
    socket = await open_socket(plan, target)
    result["connect_s"] = time.monotonic() - started
    try:
        for turn in range(plan.get("turns", 1)):
            message = f"{plan['message']} (turn {turn + 1})"
            sent = time.monotonic()
            await socket.send(json.dumps({"type": "message", "content": message}))
            parts: list[str] = []
            ttft = None
            done = False
            while not done:
                for event in events(await socket.recv()):
                    if event["type"] == "stream_chunk":
                        if ttft is None:
                            ttft = time.monotonic() - sent
                        parts.append(event["content"])
                    elif event["type"] == "stream_complete":
                        done = True
                    elif event["type"] == "error":
                        raise RuntimeError(f"server error frame: {event}")
            result["turns"].append(
                {
                    "message": message,
                    "text": "".join(parts),
                    "chunks": len(parts),
                    "ttft_s": ttft,
                    "duration_s": time.monotonic() - sent,
                }
            )
    finally:
        await socket.close()
    return result


async def still_alive(socket: Any) -> bool:
    try:
        await socket.send(json.dumps({"type": "ping"}))
        async with asyncio.timeout(OPEN_TIMEOUT_S):
            while True:
                if any(e["type"] == "pong" for e in events(await socket.recv())):
                    return True
    except Exception:
        return False


async def main(plan: dict[str, Any]) -> dict[str, Any]:
    raise_fd_limit(len(plan["idle"]) + len(plan["streams"]) + 256)
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def gated_open(target: dict[str, Any]) -> Any:
        async with gate:
            return await open_socket(plan, target)

    started = time.monotonic()
    idle = await asyncio.gather(*(gated_open(t) for t in plan["idle"]))
    idle_open_s = time.monotonic() - started
    print("IDLE-READY", flush=True)
    sys.stdin.readline()  # the test says go once it has measured the idle server
    started = time.monotonic()
    results = await asyncio.gather(
        *(stream_turns(plan, t) for t in plan["streams"]), return_exceptions=True
    )
    wall_s = time.monotonic() - started
    if plan.get("hold_s"):
        await asyncio.sleep(plan["hold_s"])
    alive = await asyncio.gather(*(still_alive(s) for s in idle))
    await asyncio.gather(*(s.close() for s in idle))
    return {
        "idle_open_s": idle_open_s,
        "idle_alive": sum(alive),
        "wall_s": wall_s,
        "streams": [r for r in results if isinstance(r, dict)],
        "errors": [repr(r) for r in results if not isinstance(r, dict)],
    }


if __name__ == "__main__":
    plan = json.loads(sys.stdin.readline())
    print(json.dumps(asyncio.run(main(plan))), flush=True)
