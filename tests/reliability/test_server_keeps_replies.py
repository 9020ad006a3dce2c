"""The reference server never loses a reply it generated, and never stops answering.

- a reply whose write fails (the database locked past the busy timeout) is retried with
  backoff; if it still fails, the socket gets an ``error`` frame and a poll a 503, so the
  client ends the turn at once with the text it has, and the reply is stored once the
  database takes writes again;
- a server killed (SIGKILL) mid-reply answers the user message when it starts again;
- generating an unpaced 50,000-chunk reply leaves the event loop free: ``/healthz`` is
  answered meanwhile (its p95 is recorded as a figure).

The lock is taken by a second SQLite connection to the server's own file: a real lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from lume_widget.core.events import ConnectionStatus, UserMessageStored
from lume_widget.errors import ServerError
from lume_widget.server import ReferenceServer
from tests.reliability.conftest import Figures
from tests.reliability.harness import rig
from tests.reliability.support import API, create_consultation, eventually, history, login_user

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def write_lock(db: str) -> Iterator[sqlite3.Connection]:
    """Hold the database's write lock from another connection until the block ends."""
    conn = sqlite3.connect(db, isolation_level=None, timeout=5)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def _server(
    factory: Callable[..., ReferenceServer], tmp_path: Path, scale: float
) -> ReferenceServer:
    return factory(
        db=str(tmp_path / "replies.sqlite3"),
        busy_timeout_ms=20,
        store_retry_s=tuple(d * scale for d in (0.05, 0.1, 0.2)),
        chunk_delay_ms=5,
    )


async def test_a_write_failing_briefly_is_retried_and_the_reply_arrives(
    reference_server_factory: Callable[..., ReferenceServer], tmp_path: Path, time_scale: float
) -> None:
    server = _server(reference_server_factory, tmp_path, time_scale)
    async with rig(server, time_scale) as r:
        await r.wait_status(ConnectionStatus.CONNECTED)
        held: list[asyncio.Task[None]] = []

        async def hold_briefly() -> None:
            with write_lock(server.config.db):
                await asyncio.sleep(0.15 * time_scale)

        def lock_at_first_chunk(index: int) -> None:
            if index == 0:
                held.append(asyncio.create_task(hold_briefly(), name="harness-lock"))

        record = await r.turn("What is a balanced lunch?", on_chunk=lock_at_first_chunk)
        await held[0]
        assert record.error is None, record.error
        await r.check()
        await r.close()


async def test_a_write_failing_for_good_ends_the_live_turn_at_once_and_is_stored_later(
    reference_server_factory: Callable[..., ReferenceServer],
    tmp_path: Path,
    time_scale: float,
    figures: Figures,
) -> None:
    server = _server(reference_server_factory, tmp_path, time_scale)
    async with rig(server, time_scale) as r:
        await r.wait_status(ConnectionStatus.CONNECTED)
        with contextlib.ExitStack() as stack:
            started = time.monotonic()

            def lock_at_first_chunk(index: int) -> None:
                if index == 0:
                    stack.enter_context(write_lock(server.config.db))

            record = await r.turn("What is a balanced lunch?", on_chunk=lock_at_first_chunk)
            took = time.monotonic() - started
            assert isinstance(record.error, ServerError), record.error
            assert record.error.code == "REPLY_NOT_STORED"
            streamed = "".join(c.text for c in record.chunks)
            assert streamed
            assert record.error.partial_text == streamed
            assert took < r.settings.turn_deadline_s / 2
            # while the reply waits to be stored, a poll hears so at once
            response = await r.http.get(
                f"{API}/consultations/{r.chat.id}/messages", headers=r.user.headers()
            )
            assert response.status_code == 503
            assert "REPLY_NOT_STORED" in response.text
        figures.record(
            "server: reply write failing for good (live)", turn_failed_after_s=round(took, 3)
        )
        # the lock is gone: the reply is stored in the background, whole, once
        await eventually(
            lambda: _stored_replies(server.config.db, r.chat.id) == [streamed],
            10 * time_scale,
            "the reply to be stored",
        )
        await r.close()


def _stored_replies(db: str, consultation_id: str) -> list[str]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT content FROM messages WHERE consultation_id = ? AND role = 'assistant' "
            "ORDER BY seq",
            (consultation_id,),
        ).fetchall()
    replies = [str(row[0]) for row in rows]
    return replies[1:]  # after the greeting


async def test_a_write_failing_for_good_fails_the_rest_poll_fast(
    reference_server_factory: Callable[..., ReferenceServer],
    tmp_path: Path,
    time_scale: float,
    figures: Figures,
) -> None:
    server = _server(reference_server_factory, tmp_path, time_scale)
    async with rig(server, time_scale, tier="rest") as r:
        server.set_faults(latency_ms=int(200 * time_scale))  # time to take the lock
        since = time.monotonic()
        turn = asyncio.create_task(r.turn("What is a balanced lunch?"), name="harness-turn")
        await r.wait_event(UserMessageStored, since)
        with write_lock(server.config.db):
            started = time.monotonic()
            record = await turn
            took = time.monotonic() - started
        assert isinstance(record.error, ServerError), record.error
        assert record.error.code == "REPLY_NOT_STORED"
        assert took < r.settings.turn_deadline_s / 2
        figures.record(
            "server: reply write failing for good (rest)", turn_failed_after_s=round(took, 3)
        )
        server.clear_faults()
        await eventually(
            lambda: len(_stored_replies(server.config.db, r.chat.id)) == 1,
            10 * time_scale,
            "the reply to be stored",
        )
        await r.close()


def _serve(db: str, *argv: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lume_widget.server",
            "--port",
            "0",
            "--db",
            db,
            "--ready-json",
            *argv,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env=os.environ,
    )
    assert process.stdout is not None
    ready: dict[str, str] = json.loads(process.stdout.readline())
    return process, ready


async def test_a_server_killed_mid_reply_answers_the_message_when_it_starts_again(
    tmp_path: Path, time_scale: float
) -> None:
    db = str(tmp_path / "killed.sqlite3")
    process, ready = _serve(db, "--chunk-delay-ms", "50")
    try:
        async with httpx.AsyncClient(base_url=ready["url"], timeout=10) as http:
            user = await login_user(http, ready["api_key"], ready["email"], ready["password"])
            consultation = await create_consultation(http, user)
            cid = consultation["id"]
            import websockets

            url = ready["url"].replace("http", "ws", 1) + f"{API}/consultations/{cid}/ws"
            async with websockets.connect(url, additional_headers=user.headers()) as socket:
                await socket.recv()  # connected
                await socket.send(json.dumps({"type": "message", "content": "Plan my week"}))
                while '"stream_chunk"' not in str(await socket.recv()):
                    pass
                process.send_signal(signal.SIGKILL)  # mid-reply: nothing is stored yet
                process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=15)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        roles = [
            r[0]
            for r in conn.execute(
                "SELECT role FROM messages WHERE consultation_id = ? ORDER BY seq", (cid,)
            )
        ]
    assert roles[-1] == "user"  # the reply was lost with the process
    process, ready = _serve(db, "--chunk-delay-ms", "0")
    try:
        async with httpx.AsyncClient(base_url=ready["url"], timeout=10) as http:
            user = await login_user(http, ready["api_key"], ready["email"], ready["password"])

            async def answered() -> bool:
                stored = await history(http, user, cid)
                return [m["role"] for m in stored][-2:] == ["user", "assistant"]

            await eventually(answered, 10 * time_scale, "the restarted server to answer")
            stored = await history(http, user, cid)
            assert [m["content"] for m in stored if m["role"] == "user"] == ["Plan my week"]
    finally:
        process.terminate()
        process.communicate(timeout=15)


async def test_an_unpaced_50000_chunk_reply_leaves_healthz_answered(
    reference_server: ReferenceServer, figures: Figures
) -> None:
    import websockets

    async with httpx.AsyncClient(base_url=reference_server.url, timeout=30) as http:
        user = await login_user(
            http, reference_server.api_key, reference_server.email, reference_server.password
        )
        consultation = await create_consultation(http, user)
        url = f"{reference_server.ws_url}{API}/consultations/{consultation['id']}/ws"
        latencies: list[float] = []
        answered_at: list[int] = []  # chunks the reader had when each /healthz answer came
        async with websockets.connect(url, additional_headers=user.headers()) as socket:
            await socket.recv()  # connected
            await socket.send(json.dumps({"type": "message", "content": "/long 50000"}))
            chunks = 0

            async def read_reply() -> None:
                nonlocal chunks
                async for frame in socket:
                    for line in str(frame).split("\n"):
                        chunks += '"stream_chunk"' in line
                        if '"stream_complete"' in line:
                            return

            reader = asyncio.create_task(read_reply(), name="harness-reader")
            while not reader.done():
                started = time.monotonic()
                health = await http.get("/healthz")
                latencies.append(time.monotonic() - started)
                assert health.status_code == 200
                answered_at.append(chunks)
                await asyncio.sleep(0.005)
            await reader
        assert chunks == 50000
        p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 20 else max(latencies)
        figures.record(
            "server: /healthz during an unpaced 50,000-chunk reply",
            p95_ms=round(p95 * 1000, 1),
            max_ms=round(max(latencies) * 1000, 1),
            samples=len(latencies),
        )
        # The latency is a figure (reported above; the target is 100 ms), not an assertion: on a
        # loaded machine one slow answer says nothing. What must hold is that the server answered
        # while the reply was still streaming: a generator that never yields answers /healthz only
        # before the first chunk or after the last.
        mid_reply = {count for count in answered_at if 0 < count < 50000}
        assert len(mid_reply) >= 3, answered_at
