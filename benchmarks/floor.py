"""The floor: the least a client can do against the same server, with bare httpx and websockets.

These helpers speak the wire protocol directly (log in, create a consultation, open its
WebSocket, send one message, read frames until ``stream_complete``) with nothing on top:
no state machine, no reconciliation, no events. What they achieve is what the hardware
and the libraries allow; our client is measured against it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
import uuid
from typing import Any

import httpx
import websockets

from benchmarks.server import ServerHandle

WS_OPEN_TIMEOUT_S = 10.0
TURN_TIMEOUT_S = 120.0


@dataclasses.dataclass
class FloorTurn:
    """One reply read by the bare loop: its chunks and when things happened."""

    chunks: list[str]
    sent_at: float  # perf_counter when the message left
    first_chunk_at: float | None  # perf_counter when the first chunk was parsed
    first_chunk_wall: float | None  # time.time() at the same moment
    first_chunk_server_wall: float | None  # the server's timestamp on that chunk
    last_chunk_at: float  # perf_counter when the last chunk was parsed
    completed_at: float  # perf_counter when stream_complete was parsed
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)  # of stream_complete
    cpu_s: float = 0.0  # this process's CPU time from sending to stream_complete

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    @property
    def duration_s(self) -> float:
        """From sending to ``stream_complete``."""
        return self.completed_at - self.sent_at

    @property
    def ingest_s(self) -> float:
        """From sending to the last chunk parsed: the span chunks/s is computed over."""
        return self.last_chunk_at - self.sent_at


def parse_timestamp(value: str) -> float:
    """RFC 3339 with 0-9 fractional digits and Z or an offset, as seconds since the epoch."""
    text = value.strip().replace("z", "Z")
    fraction = 0.0
    if "." in text:
        head, rest = text.split(".", 1)
        digits = ""
        for char in rest:
            if not char.isdigit():
                break
            digits += char
        zone = rest[len(digits) :]
        fraction = float(f"0.{digits}") if digits else 0.0
        text = head + zone
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.timestamp() + fraction


class RawApi:
    """Plain REST calls with httpx: enough to set up what the bare WebSocket loop needs."""

    def __init__(self, server: ServerHandle) -> None:
        self.server = server
        self.http = httpx.AsyncClient(
            base_url=server.url, headers={"X-API-Key": server.api_key}, timeout=30.0
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _json(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise RuntimeError(
                f"{response.request.method} {response.request.url.path} answered "
                f"{response.status_code}: {response.text[:200]}"
            )
        if not response.content:
            return None
        return response.json().get("data")

    async def login(self, email: str | None = None, password: str | None = None) -> str:
        response = await self.http.post(
            "/api/v1/auth/login",
            json={
                "email": email or self.server.email,
                "password": password or self.server.password,
            },
        )
        data = await self._json(response)
        return str(data["access_token"])

    async def register(self, email: str | None = None, password: str = "bench-password-1") -> str:
        """Register a fresh user (each user may hold 10 active consultations) and return a token."""
        response = await self.http.post(
            "/api/v1/auth/register",
            json={
                "email": email or f"bench-{uuid.uuid4().hex[:12]}@lume.local",
                "password": password,
                "name": "Benchmark",
                "date_of_birth": "1990-01-01",
            },
        )
        data = await self._json(response)
        return str(data["access_token"])

    def _auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def create_consultation(self, token: str, persona: str = "general_wellness") -> str:
        response = await self.http.post(
            "/api/v1/consultations", json={"persona": persona}, headers=self._auth(token)
        )
        data = await self._json(response)
        consultation = data.get("consultation", data)
        return str(consultation["id"]).lower()

    async def delete_consultation(self, token: str, consultation_id: str) -> None:
        response = await self.http.delete(
            f"/api/v1/consultations/{consultation_id}", headers=self._auth(token)
        )
        if response.status_code not in (204, 404):
            await self._json(response)

    async def messages(self, token: str, consultation_id: str) -> list[dict[str, Any]]:
        response = await self.http.get(
            f"/api/v1/consultations/{consultation_id}/messages", headers=self._auth(token)
        )
        data = await self._json(response)
        messages: list[dict[str, Any]] = data["messages"]
        return messages


def _frames(raw: str | bytes) -> list[dict[str, Any]]:
    if isinstance(raw, bytes):
        return []
    if "\n" not in raw:
        return [json.loads(raw)]
    return [json.loads(line) for line in raw.split("\n") if line.strip()]


class FloorSocket:
    """An open consultation WebSocket driven by the bare loop; one turn at a time."""

    def __init__(self, server: ServerHandle, token: str, consultation_id: str) -> None:
        self.uri = f"{server.ws_url}/api/v1/consultations/{consultation_id}/ws?token={token}"
        self.headers = {"Authorization": f"Bearer {token}", "X-API-Key": server.api_key}
        self.connection: websockets.ClientConnection | None = None

    async def __aenter__(self) -> FloorSocket:
        self.connection = await websockets.connect(
            self.uri, additional_headers=self.headers, open_timeout=WS_OPEN_TIMEOUT_S, max_size=None
        )
        # The server greets with {"type": "connected"}; wait for it so timing starts clean.
        while True:
            frames = _frames(await self.connection.recv())
            if any(frame.get("type") == "connected" for frame in frames):
                break
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.connection is not None:
            await self.connection.close()

    async def turn(self, text: str) -> FloorTurn:
        """Send ``text``; receive, ``json.loads`` and append every chunk until ``stream_complete``."""
        assert self.connection is not None
        connection = self.connection
        chunks: list[str] = []
        first_at: float | None = None
        first_wall: float | None = None
        first_server: float | None = None
        last_at = 0.0
        deadline = time.perf_counter() + TURN_TIMEOUT_S
        cpu_at_start = time.process_time()
        await connection.send(json.dumps({"type": "message", "content": text}))
        sent_at = time.perf_counter()
        while True:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no stream_complete within {TURN_TIMEOUT_S:.0f} s")
            for frame in _frames(await connection.recv()):
                kind = frame.get("type")
                if kind == "stream_chunk":
                    if first_at is None:
                        first_at = time.perf_counter()
                        first_wall = time.time()
                        stamp = frame.get("timestamp")
                        first_server = parse_timestamp(stamp) if stamp else None
                    chunks.append(frame["content"])
                    last_at = time.perf_counter()
                elif kind == "stream_complete":
                    return FloorTurn(
                        chunks,
                        sent_at,
                        first_at,
                        first_wall,
                        first_server,
                        last_at,
                        time.perf_counter(),
                        dict(frame.get("metadata") or {}),
                        time.process_time() - cpu_at_start,
                    )
                elif kind == "error":
                    raise RuntimeError(f"the server sent an error frame: {frame}")
