"""Our side of each comparison: the client's stream API on a reference server, timed the way the floor is.

Every helper here uses only the public client API (``LumeClient``, ``Consultation``,
events from ``lume_widget.core.events``); a part that is not in the tree yet becomes a
:class:`~benchmarks.common.Skip` with the reason, never a made-up number.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from benchmarks.common import Skip
from benchmarks.context import require_module
from benchmarks.server import ServerHandle

log = logging.getLogger("benchmarks")

if TYPE_CHECKING:
    from lume_widget.client import Consultation, LumeClient
    from lume_widget.core.events import Reply


@dataclasses.dataclass
class ClientTurn:
    """One reply taken through ``Consultation.stream``: its chunk events and when they came."""

    chunks: int
    text: str
    sent_at: float  # perf_counter just before stream() was asked for the turn
    first_chunk_at: float | None
    first_chunk_wall: float | None
    last_chunk_at: float | None
    completed_at: float
    reply: Reply
    cpu_s: float  # this process's CPU time from asking to the last chunk event

    @property
    def ingest_s(self) -> float:
        """From asking for the turn to the last chunk event (the floor's span, measured alike)."""
        if self.last_chunk_at is None:
            return float("nan")
        return self.last_chunk_at - self.sent_at


async def open_client(server: ServerHandle, **options: Any) -> LumeClient:
    """Log in to ``server`` with the client, or skip if the client is not there yet."""
    require_module("lume_widget.client", "the async client")
    from lume_widget.client import LumeClient

    try:
        return await LumeClient.connect(
            server.url,
            api_key=server.api_key,
            email=options.pop("email", server.email),
            password=options.pop("password", server.password),
            admin_token=server.admin_token,
            **options,
        )
    except NotImplementedError as exc:
        raise Skip("the async client is not implemented yet (LumeClient.connect)") from exc


async def open_chat(client: LumeClient, **options: Any) -> Consultation:
    options.setdefault("resume", False)
    try:
        return await client.open(**options)
    except NotImplementedError as exc:
        raise Skip("the async client is not implemented yet (LumeClient.open)") from exc


async def client_turn(chat: Consultation, text: str) -> ClientTurn:
    """Stream one turn through the public event API, timestamping chunk events as they arrive."""
    from lume_widget.core.events import ChunkReceived, ReplyCompleted, TurnFailed

    chunks = 0
    first_at: float | None = None
    first_wall: float | None = None
    last_at: float | None = None
    cpu_at_start = time.process_time()
    cpu_at_last = cpu_at_start
    sent_at = time.perf_counter()
    try:
        async for event in chat.stream(text):
            if isinstance(event, ChunkReceived):
                now = time.perf_counter()
                if first_at is None:
                    first_at = now
                    first_wall = time.time()
                last_at = now
                cpu_at_last = time.process_time()
                chunks += 1
            elif isinstance(event, ReplyCompleted):
                return ClientTurn(
                    chunks,
                    event.reply.text,
                    sent_at,
                    first_at,
                    first_wall,
                    last_at,
                    time.perf_counter(),
                    event.reply,
                    cpu_at_last - cpu_at_start,
                )
            elif isinstance(event, TurnFailed):
                raise RuntimeError(f"the turn failed: {event.error}") from event.error
    except NotImplementedError as exc:
        raise Skip("the async client is not implemented yet (Consultation.stream)") from exc
    raise RuntimeError("Consultation.stream ended without a ReplyCompleted event")


CLOSE_TIMEOUT_S = 10.0
close_hangs: list[str] = []
"""Closes that did not return in time, by what was closed (a bug to report; runs carry on)."""


async def bounded_close(closing: Awaitable[Any], what: str) -> bool:
    """Await a close; False, with a warning, if it does not finish within ``CLOSE_TIMEOUT_S``.

    A close that never returns is a bug to report, not a reason to hang the whole run:
    the benchmark records it in ``close_hangs`` and carries on.
    """
    try:
        await asyncio.wait_for(closing, CLOSE_TIMEOUT_S)
    except asyncio.TimeoutError:
        log.warning("%s did not return within %.0f s; carrying on", what, CLOSE_TIMEOUT_S)
        close_hangs.append(what)
        return False
    return True


async def close_chat(chat: Consultation, *, delete: bool = False) -> bool:
    """Close (or delete) a consultation, bounded by :func:`bounded_close`."""
    if delete:
        return await bounded_close(chat.delete(), "Consultation.delete")
    return await bounded_close(chat.aclose(), "Consultation.aclose")


async def close_client(client: LumeClient) -> bool:
    return await bounded_close(client.aclose(), "LumeClient.aclose")
