"""WebSocket endpoints: the streaming consultation socket and the legacy whole-message socket.

Consultation socket (``/api/v1/consultations/{id}/ws``): ``connected`` on open; for each
``{"type":"message","content":...}`` the user message is stored, then one turn runs:
``message_received``, ``stream_chunk`` deltas, the reply stored whole, ``stream_complete``.
Turns of one socket run one after another. A turn outlives its socket: if the client goes
away mid-stream the rest of the reply is generated without pacing and stored, so history
always has it. Legacy socket (``/api/v1/wellness/ai/chat/ws/{id}``): replies arrive as
one ``{"type":"message","message":...}`` frame each, one JSON object per frame.
Faults (close, stall, pack, malformed and unknown frames, refusal) are applied here.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import socket
import struct
import time
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from lume_widget.server.auth import bearer_token
from lume_widget.server.config import Faults
from lume_widget.server.responders import ResponderError
from lume_widget.server.rest import validate_content
from lume_widget.server.state import LoopYield, ReplyNotStored, ServerState, estimate_tokens
from lume_widget.server.store import Row
from lume_widget.server.wire import (
    ApiProblem,
    dump_json,
    error_response,
    message_json,
    parse_id,
    ws_event,
)

logger = logging.getLogger(__name__)

MALFORMED_FRAME = '{"type": "stream_chunk", "content": "unterminated'


class _DeniedUpgradeNoise(logging.Filter):
    """Drops uvicorn's "returned without completing handshake" error after a denied upgrade.

    uvicorn (0.54, websockets-sansio and wsproto) logs that error for every upgrade answered
    with an HTTP denial response, although the denial is a complete answer. The denial is
    marked in a context variable of the connection's task, where uvicorn logs right after
    the endpoint returns, so the error still shows for an endpoint that truly returned
    without answering, and one connection's mark never hides another's error.
    """

    UVICORN_MESSAGE = "ASGI callable returned without completing handshake."

    def __init__(self) -> None:
        super().__init__()
        self._denied = contextvars.ContextVar("lume_upgrade_denied", default=False)

    def expect(self) -> None:
        self._denied.set(True)

    def filter(self, record: logging.LogRecord) -> bool:
        return not (self._denied.get() and record.getMessage() == self.UVICORN_MESSAGE)


_DENIED_UPGRADES = _DeniedUpgradeNoise()
logging.getLogger("uvicorn.error").addFilter(_DENIED_UPGRADES)


class SocketSession:
    """One open socket: serialised sends, optional packing, fault-driven closes."""

    def __init__(self, state: ServerState, websocket: WebSocket, consultation_id: str) -> None:
        self.state = state
        self.websocket = websocket
        self.consultation_id = consultation_id
        self.open = True
        self.pack = 1
        self._buffer: list[str] = []
        self._lock = asyncio.Lock()
        # (consultation, id of the user message to answer); None ends the worker.
        self.turns: asyncio.Queue[tuple[Row, str] | None] = asyncio.Queue()

    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return ws_event(kind, self.consultation_id, self.state.profile, **fields)

    async def _write(self, text: str) -> bool:
        if not self.open:
            return False
        try:
            async with self._lock:
                await self.websocket.send_text(text)
        except Exception:  # the peer went away: any send error means the same here
            self.open = False
            return False
        return True

    async def send_line(self, line: str) -> bool:
        if self.pack <= 1:
            return await self._write(line)
        self._buffer.append(line)
        if len(self._buffer) >= self.pack:
            return await self.flush()
        return self.open

    async def send_event(self, event: dict[str, Any]) -> bool:
        return await self.send_line(dump_json(event))

    async def flush(self) -> bool:
        if not self._buffer:
            return self.open
        text, self._buffer = "\n".join(self._buffer), []
        return await self._write(text)

    # Subscriber protocol (state.broadcast / state.close_sockets)
    async def deliver(self, event: dict[str, Any]) -> None:
        await self.flush()
        await self._write(dump_json(event))

    async def close_for(self, code: int, reason: str) -> None:
        await self.flush()
        if self.open:
            self.open = False
            try:
                await self.websocket.close(code, reason)
            except Exception:
                logger.debug("close of an already closed socket", exc_info=True)

    async def terminate(self, mode: str) -> None:
        """Close as a fault asks: ``clean`` (1000) or ``abrupt`` (TCP reset, no close frame)."""
        if mode == "clean":
            await self.close_for(1000, "closed by fault injection")
            return
        self.open = False
        transport = self.websocket.scope.get("lume.transport")
        if transport is None:
            await self.websocket.close(1011)
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                logger.debug("could not set SO_LINGER for an abrupt close", exc_info=True)
        transport.abort()


async def _deny(websocket: WebSocket, problem: ApiProblem, profile: str) -> None:
    try:
        await websocket.send_denial_response(error_response(problem, profile))
        _DENIED_UPGRADES.expect()
    except RuntimeError:  # the server cannot send HTTP answers to upgrades: close (403)
        await websocket.close()


async def _authorize(websocket: WebSocket, state: ServerState) -> Row | None:
    """Check the upgrade request; deny it with the right status, or return the consultation."""
    try:
        consultation_id = parse_id(str(websocket.path_params["consultation_id"]))
        if consultation_id is None:
            raise ApiProblem(400, "invalid consultation ID: expected a UUID", code="INVALID_ID")
        headers, query = websocket.headers, websocket.query_params
        state.auth.check_api_key(headers.get("x-api-key") or query.get("api_key"))
        token = bearer_token(headers.get("authorization")) or query.get("token")
        if not token:
            raise ApiProblem(
                400,
                "missing token: send Authorization: Bearer <access token> or ?token=<access token>",
                code="UNAUTHORIZED",
            )
        principal = state.auth.check_access_token(token)
        return await state.owned_consultation(consultation_id, principal)
    except ApiProblem as problem:
        await _deny(websocket, problem, state.profile)
        return None


def _parse_frames(text: str) -> list[Any]:
    """Client frames: one JSON object each, but tolerate several separated by newlines."""
    items: list[Any] = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except (ValueError, RecursionError):
            items.append(None)
    return items


async def _refuse_if_faulted(websocket: WebSocket, state: ServerState, legacy: bool) -> bool:
    faults = state.faults.current
    if faults.refuse_ws_upgrade:
        problem = ApiProblem(
            faults.refuse_ws_upgrade,
            "WebSocket upgrades are refused (fault injection): use REST meanwhile",
            code="WS_REFUSED",
        )
    elif legacy and faults.legacy_down:
        problem = ApiProblem(
            503,
            "the legacy chat channel is unavailable (fault injection)",
            code="SERVICE_UNAVAILABLE",
        )
    else:
        return False
    await _deny(websocket, problem, state.profile)
    return True


async def consultation_socket(websocket: WebSocket) -> None:
    await _serve_socket(websocket, legacy=False)


async def legacy_socket(websocket: WebSocket) -> None:
    await _serve_socket(websocket, legacy=True)


async def _serve_socket(websocket: WebSocket, *, legacy: bool) -> None:
    """One socket's life: faults and auth at upgrade, ``connected``, then messages until it closes."""
    state: ServerState = websocket.app.state.lume
    if await _refuse_if_faulted(websocket, state, legacy=legacy):
        return
    consultation = await _authorize(websocket, state)
    if consultation is None:
        return
    await websocket.accept()
    cid = consultation["id"]
    session = SocketSession(state, websocket, cid)
    state.subscribe(cid, session)
    faults = state.faults.current
    try:
        await session.send_event(session.event("connected"))
        if not legacy:
            if faults.ws_close_after_connect:
                await session.terminate(faults.ws_close_mode)
                return
            # The worker is the server's, not the socket's: it finishes (and stores) the turns
            # already accepted after the client has gone.
            state.spawn(_turn_worker(session), name=f"turns:{cid}")
        await _receive_loop(session, legacy=legacy)
    finally:
        session.open = False
        state.unsubscribe(cid, session)
        if not legacy:
            session.turns.put_nowait(None)


async def _receive_loop(session: SocketSession, legacy: bool) -> None:
    websocket = session.websocket
    while True:
        try:
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            await session.deliver(
                session.event(
                    "error", error="binary frames are not supported", code="INVALID_MESSAGE"
                )
            )
            continue
        for item in _parse_frames(text):
            kind = item.get("type") if isinstance(item, dict) else None
            if kind == "ping":
                await session.deliver(session.event("pong"))
            elif kind == "message":
                await _accept_user_message(session, item, legacy)
            else:
                await session.deliver(
                    session.event(
                        "error",
                        error='unsupported frame: send {"type":"message","content":...} or '
                        '{"type":"ping"}',
                        code="INVALID_MESSAGE",
                    )
                )
        if not session.open:
            return


async def _accept_user_message(session: SocketSession, item: dict[str, Any], legacy: bool) -> None:
    state = session.state
    try:
        content = validate_content(item.get("content"))
        message = await state.add_user_message(session.consultation_id, content)
    except ApiProblem as problem:
        if problem.code == "CONSULTATION_NOT_ACTIVE":
            error, code = "Consultation is not active", "CONSULTATION_NOT_ACTIVE"
        else:
            error, code = problem.message, problem.code or "INVALID_MESSAGE"
        await session.deliver(session.event("error", error=error, code=code))
        return
    consultation = await state.store.consultation(session.consultation_id)
    if consultation is None:
        return
    if legacy:
        await session.deliver(session.event("message_received"))
        state.reply_in_background(consultation, message["id"])
    else:
        session.turns.put_nowait((consultation, message["id"]))


async def _turn_worker(session: SocketSession) -> None:
    while True:
        turn = await session.turns.get()
        if turn is None:
            return
        await _stream_turn(session, *turn)


async def _stream_turn(session: SocketSession, consultation: Row, user_message_id: str) -> None:
    """One reply over the socket; stored whole whatever happens to the socket meanwhile."""
    state = session.state
    faults: Faults = state.faults.current
    cid = session.consultation_id
    session.pack = faults.ws_pack_events
    started = time.monotonic()
    delay_ms = (
        faults.chunk_delay_ms if faults.chunk_delay_ms is not None else state.config.chunk_delay_ms
    )
    await session.send_event(session.event("message_received"))
    ctx = await state.reply_context(consultation, user_message_id)
    parts: list[str] = []
    sent = 0
    delivering = session.open
    pause = LoopYield()
    if faults.reply_delay_ms:
        await asyncio.sleep(faults.reply_delay_ms / 1000)
    try:
        async for delta in state.responder.stream(ctx):
            parts.append(delta)
            await pause()
            if not delivering:
                continue
            if not parts[:-1] and faults.latency_ms:
                await asyncio.sleep(faults.latency_ms / 1000)
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            if faults.ws_unknown_frames:
                await session.send_event(session.event("typing_indicator", is_typing=True))
            if faults.ws_malformed_frames:
                await session.send_line(MALFORMED_FRAME)
            delivering = await session.send_event(session.event("stream_chunk", content=delta))
            sent += 1
            if faults.ws_close_after_chunks is not None and sent >= faults.ws_close_after_chunks:
                await session.terminate(faults.ws_close_mode)
                delivering = False
            elif faults.ws_stall_after_chunks is not None and sent >= faults.ws_stall_after_chunks:
                await session.flush()
                delivering = False
    except ResponderError as exc:
        logger.warning("reply for %s failed: %s", cid, exc)
        await session.send_event(
            session.event("error", error="Failed to process message", code="AI_ERROR")
        )
        await session.flush()
        return
    text = "".join(parts)
    try:
        stored = await state.store_reply(cid, text, started, len(parts), user_message_id)
    except ReplyNotStored:
        # the text is kept and stored in the background; the client must not wait for it
        await session.send_event(
            session.event(
                "error",
                error="The reply could not be stored; it is being stored again",
                code="REPLY_NOT_STORED",
            )
        )
        await session.flush()
        return
    if stored is not None and delivering and not faults.ws_omit_stream_complete:
        metadata = {
            "tokens_used": estimate_tokens(text),
            "processing_time_ms": stored["processing_time_ms"],
            "function_calls": 0,  # a count (SW32), and the scripted replies call no functions
        }
        extra: dict[str, Any] = {}
        if state.config.complete_with_message:
            extra["message"] = message_json(stored, state.profile)
        await session.send_event(session.event("stream_complete", metadata=metadata, **extra))
    await session.flush()
    logger.debug("turn of %s done: %d chunks, %d sent", cid, len(parts), sent)
