"""The fault matrix's harness: a real client on a real server (optionally through the relay), and the oracle.

``Rig`` logs the client in against the reference server (directly, or through a
:class:`~.relay.TcpRelay` when the network itself must misbehave), opens one consultation
and records every event it reports. ``Rig.check`` is the oracle every case ends with:

1. the client's transcript equals the server's history by id, role, order and content;
2. each user message the test sent is stored exactly once;
3. each reply is shown once: one completed reply per turn, no id twice in the transcript, the
   reply's text is the stored text, and it is the reply to that turn's message (with one turn
   in flight at a time the server answers in order: the k-th assistant message after the
   greeting answers the k-th user message);
4. after close, no task of the client is still running and no socket of it is still open.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from lume_widget.client import Consultation, LumeClient, Settings
from lume_widget.core.events import (
    ChunkReceived,
    ConnectionStatus,
    Event,
    ReplyCompleted,
    StatusChanged,
    TierChanged,
    TurnFailed,
)
from lume_widget.errors import LumeError
from lume_widget.server import ReferenceServer

from .conftest import CLIENT_TIME_FACTOR
from .relay import FrameTransform, TcpRelay
from .support import User, assert_nothing_left_behind, eventually, history, login_user

CLOSE_TIMEOUT_S = 3.0
"""A close takes milliseconds on loopback; the websockets close handshake is bounded by 2 s."""


class CloseHang(AssertionError):
    """The client's ``aclose()`` did not return."""


class WrongReply(AssertionError):
    """A turn completed with the server's reply to another user message."""


def duplicate_chunks(opcode: int, payload: bytes) -> list[tuple[int, bytes]]:
    """A relay frame transform that sends every ``stream_chunk`` frame twice."""
    if opcode == 1 and b'"stream_chunk"' in payload:
        return [(opcode, payload), (opcode, payload)]
    return [(opcode, payload)]


def users_of(stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in stored if m["role"] == "user"]


def client_settings(time_scale: float) -> Settings:
    """The production defaults (PROTOCOL A3) shrunk by one factor."""
    return Settings().scaled(CLIENT_TIME_FACTOR * time_scale)


@dataclass
class TurnRecord:
    """What the client reported for one turn."""

    text: str
    events: list[tuple[float, Event]] = field(default_factory=list)
    error: LumeError | None = None

    @property
    def replies(self) -> list[ReplyCompleted]:
        return [e for _, e in self.events if isinstance(e, ReplyCompleted)]

    @property
    def chunks(self) -> list[ChunkReceived]:
        return [e for _, e in self.events if isinstance(e, ChunkReceived)]

    def first(self, kind: type[Any], **match: Any) -> float | None:
        """Monotonic time of the first event of ``kind`` whose fields equal ``match``."""
        for at, event in self.events:
            if isinstance(event, kind) and all(getattr(event, k) == v for k, v in match.items()):
                return at
        return None


class Rig:
    """One client, one consultation, optionally behind a relay; see the module docstring."""

    def __init__(
        self,
        server: ReferenceServer,
        settings: Settings,
        relay: TcpRelay | None,
        time_scale: float = 1.0,
    ) -> None:
        self.server = server
        self.time_scale = time_scale
        self.settings = settings
        self.relay = relay
        self.client: LumeClient
        self.chat: Consultation
        self.http: httpx.AsyncClient
        self.user: User
        self.turns: list[TurnRecord] = []
        self.all_events: list[tuple[float, Event]] = []
        self._watcher: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()

    @property
    def url(self) -> str:
        return self.relay.url if self.relay is not None else self.server.url

    @property
    def port(self) -> int:
        return self.relay.port if self.relay is not None else self.server.port

    async def open(self, **open_options: Any) -> Rig:
        self.http = httpx.AsyncClient(base_url=self.server.url, timeout=10)
        self.user = await login_user(
            self.http, self.server.api_key, self.server.email, self.server.password
        )
        self.client = await LumeClient.connect(
            self.url,
            api_key=self.server.api_key,
            email=self.server.email,
            password=self.server.password,
            admin_token=self.server.admin_token,
            settings=self.settings,
        )
        open_options.setdefault("resume", False)
        self.chat = await self.client.open("nutritionist", **open_options)
        self._watcher = asyncio.create_task(self._watch(), name="harness-event-watcher")
        return self

    async def _watch(self) -> None:
        async for event in self.chat.events():
            self.all_events.append((time.monotonic(), event))
            async with self._changed:
                self._changed.notify_all()

    async def wait_status(self, *statuses: ConnectionStatus, timeout: float = 10.0) -> float:
        """Wait until the status is one of ``statuses``; return the monotonic time it was seen."""
        async with asyncio.timeout(timeout * self.time_scale), self._changed:
            await self._changed.wait_for(lambda: self.chat.status in statuses)
        return time.monotonic()

    def _find(self, kind: type[Any], since: float, match: dict[str, Any]) -> float | None:
        for at, event in self.all_events:
            if (
                at >= since
                and isinstance(event, kind)
                and all(getattr(event, k) == v for k, v in match.items())
            ):
                return at
        return None

    async def wait_event(
        self, kind: type[Any], since: float, timeout: float = 10.0, **match: Any
    ) -> float:
        """Wait for an event of ``kind`` (fields equal ``match``) reported after ``since``."""
        async with asyncio.timeout(timeout * self.time_scale), self._changed:
            await self._changed.wait_for(lambda: self._find(kind, since, match) is not None)
        found = self._find(kind, since, match)
        assert found is not None
        return found

    async def turn(self, text: str, *, on_chunk: Any = None, timeout: float = 20.0) -> TurnRecord:
        """Send ``text`` and record every event until the turn completes or fails.

        ``on_chunk(index)`` (may be async) runs after each chunk: the place to inject a fault
        mid-stream.
        """
        record = TurnRecord(text)
        self.turns.append(record)
        async with (
            asyncio.timeout(timeout * self.time_scale),
            contextlib.aclosing(self.chat.stream(text)) as events,
        ):
            async for event in events:
                record.events.append((time.monotonic(), event))
                if isinstance(event, ChunkReceived) and on_chunk is not None:
                    result = on_chunk(event.index)
                    if asyncio.iscoroutine(result):
                        await result
                if isinstance(event, TurnFailed):
                    record.error = event.error
        return record

    async def retarget(self, server: ReferenceServer) -> None:
        """Point the oracle's own HTTP client at another server (after a restart)."""
        await self.http.aclose()
        self.server = server
        self.http = httpx.AsyncClient(base_url=server.url, timeout=10)

    async def server_history(self) -> list[dict[str, Any]]:
        response = await self.http.get(
            f"/api/v1/consultations/{self.chat.id}/messages", headers=self.user.headers()
        )
        if response.status_code == 401:  # the oracle's own token expired: log in again
            self.user = await login_user(
                self.http, self.server.api_key, self.server.email, self.server.password
            )
        return await history(self.http, self.user, self.chat.id)

    async def check(self, *, failed_turns: int = 0) -> list[dict[str, Any]]:
        """The oracle (1-3); returns the server's history. Call ``close`` for (4)."""
        stored = await self.server_history()
        if any(not r.replies[0].reply.message_id for r in self.turns if r.replies):
            # a reply completed before its stored copy could be read: the transcript adopts
            # that copy from a history read in the background, within a few backoff steps
            wanted = [(m["id"], m["role"], m["content"]) for m in stored]
            await eventually(
                lambda: [(m.id, m.role, m.content) for m in self.chat.transcript] == wanted,
                10 * self.time_scale,
                "the transcript to adopt the stored copy of a reply",
            )
        transcript = self.chat.transcript
        assert [(m.id, m.role, m.content) for m in transcript] == [
            (m["id"], m["role"], m["content"]) for m in stored
        ], "the client's transcript differs from the server's history"
        for record in self.turns:
            copies = [m for m in stored if m["role"] == "user" and m["content"] == record.text]
            allowed = (0, 1) if record.error is not None else (1,)
            assert len(copies) in allowed, (
                f"user message {record.text!r} stored {len(copies)} times"
            )
        for record in self.turns:
            expected = 0 if record.error is not None else 1
            assert len(record.replies) == expected, (
                f"turn {record.text!r} completed {len(record.replies)} times"
            )
        completed = [r for r in self.turns if r.replies]
        assert len(completed) == len(self.turns) - failed_turns, (
            f"{len(completed)} of {len(self.turns)} turns completed, {failed_turns} expected to fail: "
            f"{[(t.text, t.error) for t in self.turns]}"
        )
        ids = [m.id for m in transcript]
        assert len(ids) == len(set(ids)), "a message is shown twice"
        for record in completed:
            reply = record.replies[0].reply
            user = next(m for m in users_of(stored) if m["content"] == record.text)
            if reply.user_message_id is not None:
                assert reply.user_message_id == user["id"], f"{record.text!r}: wrong user message"
            if not reply.message_id:
                # completed before its stored copy could be read: the text is what streamed,
                # and the transcript (checked above) has adopted the stored copy since
                assert any(m["content"] == reply.text for m in stored), record.text
                continue
            assert reply.text == next(m for m in stored if m["id"] == reply.message_id)["content"]
        if failed_turns:
            return stored  # a stopped reply may still land later, out of order
        # With one turn in flight at a time the server answers in order, so the k-th assistant
        # message after the greeting is the reply to the k-th user message.
        users = users_of(stored)
        first_user = next(i for i, m in enumerate(stored) if m["role"] == "user")
        answers = [m for m in stored[first_user:] if m["role"] == "assistant"]
        assert len(answers) == len(users), f"{len(users)} user messages, {len(answers)} replies"
        reply_to = {user["id"]: answer for user, answer in zip(users, answers, strict=True)}
        for record in completed:
            reply = record.replies[0].reply
            user = next(m for m in users if m["content"] == record.text)
            answer = reply_to[user["id"]]
            if (reply.message_id or answer["id"]) != answer["id"] or reply.text != answer[
                "content"
            ]:
                raise WrongReply(f"turn {record.text!r} shows another turn's reply")
        return stored

    async def close(self) -> None:
        """Close the client and check (4): nothing of it left behind.

        Raises :class:`CloseHang` when ``aclose()`` does not return in time, so the cases can
        expect that known bug precisely (any other failure still fails them).
        """
        limit = CLOSE_TIMEOUT_S * self.time_scale
        started = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.client.aclose(), limit)
        if time.monotonic() - started >= limit:
            raise CloseHang(f"LumeClient.aclose() did not return within {limit:.1f} s")
        await self.http.aclose()  # the oracle's own connections are not the client's
        if self._watcher is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._watcher, 5)
        await assert_nothing_left_behind([self.port])

    async def aclose_quietly(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.aclose()
        if self._watcher is not None:
            self._watcher.cancel()
        await self.http.aclose()
        if self.relay is not None:
            await self.relay.aclose()

    def tier_changes(self) -> list[TierChanged]:
        return [e for _, e in self.all_events if isinstance(e, TierChanged)]

    def statuses(self) -> list[StatusChanged]:
        return [e for _, e in self.all_events if isinstance(e, StatusChanged)]


@contextlib.asynccontextmanager
async def rig(
    server: ReferenceServer,
    time_scale: float,
    *,
    relay: bool = False,
    slice_segments: bool = False,
    frame_transform: FrameTransform | None = None,
    settings: Settings | None = None,
    **open_options: Any,
) -> AsyncIterator[Rig]:
    """A :class:`Rig` that is always torn down (the test calls ``close`` to check for leaks)."""
    tcp_relay = None
    if relay or slice_segments or frame_transform is not None:
        tcp_relay = TcpRelay(
            "127.0.0.1",
            server.port,
            slice_segments=slice_segments,
            frame_transform=frame_transform,
        )
        await tcp_relay.start()
    harness = Rig(server, settings or client_settings(time_scale), tcp_relay, time_scale)
    try:
        await harness.open(**open_options)
        yield harness
    finally:
        await harness.aclose_quietly()
