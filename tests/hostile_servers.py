"""Support for the client tests: scaled settings, a connected client, the transcript oracle, and
small hand-written hostile servers (below) for what the reference server cannot misbehave at."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from lume_widget.client import LumeClient, Settings
from lume_widget.core.events import Reply
from lume_widget.core.models import Message
from lume_widget.server import ReferenceServer
from lume_widget.server.runner import bind_socket

SCALE = 0.05
"""Every client timing in these tests is the default times this (times LUME_TEST_TIME_SCALE)."""


def client_settings(time_scale: float, **changes: Any) -> Settings:
    import dataclasses

    settings = Settings().scaled(SCALE * time_scale)
    return dataclasses.replace(settings, **changes) if changes else settings


async def connect(server: ReferenceServer, settings: Settings, **options: Any) -> LumeClient:
    options.setdefault("api_key", server.api_key)
    options.setdefault("email", server.email)
    options.setdefault("password", server.password)
    options.setdefault("admin_token", server.admin_token)
    return await LumeClient.connect(server.url, settings=settings, **options)


def same_messages(client_side: list[Message], server_side: list[dict[str, Any]]) -> None:
    """The oracle: ids, roles, order and content of the client's transcript equal the server's."""
    assert [(m.id, m.role, m.content) for m in client_side] == [
        (m["id"], m["role"], m["content"]) for m in server_side
    ]


def stored_once(server_side: list[dict[str, Any]], text: str, reply: Reply) -> None:
    """The user message is stored once and the reply is the message right after it."""
    users = [i for i, m in enumerate(server_side) if m["role"] == "user" and m["content"] == text]
    assert len(users) == 1, f"user message stored {len(users)} times"
    assert server_side[users[0]]["id"] == reply.user_message_id
    assert server_side[users[0] + 1]["id"] == reply.message_id
    assert server_side[users[0] + 1]["content"] == reply.text
    replies = [m for m in server_side if m["id"] == reply.message_id]
    assert len(replies) == 1


# --------------------------------------------------------------------------------------
# Hostile backends: a tiny in-memory Lume over Starlette + uvicorn, with knobs for the
# quirks of PROTOCOL B7 that the reference server does not produce.
# --------------------------------------------------------------------------------------


API_KEY = "hostile-key"
STAMPS = itertools.cycle(
    [
        "2025-11-19T14:03:58Z",
        "2025-11-19T14:03:58.1+02:00",
        "2025-11-19T14:03:58.151465961Z",
        "2025-11-19T14:03:58.15-05:30",
    ]
)

Frames = Callable[["Hostile", str, dict[str, Any]], list[Any]]
"""(server, user text, stored reply) -> what the socket sends: str, bytes, "close" or "stall"."""


def streamed(server: Hostile, text: str, reply: dict[str, Any]) -> list[Any]:
    """The normal flow: ack, a few chunks, completion (one event per frame)."""
    words = reply["content"].split(" ")
    chunks = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
    return (
        [json.dumps({"type": "message_received"})]
        + [json.dumps({"type": "stream_chunk", "content": c}) for c in chunks]
        + [json.dumps({"type": "stream_complete", "metadata": {"tokens_used": 7}})]
    )


@dataclass
class Hostile:
    """A misbehaving backend. Every knob defaults to well-behaved."""

    frames: Frames = streamed
    spec_envelope: bool = False
    send_status: int = 201
    send_shape: str = "wrapped"  # wrapped {user_message} | message (bare Message) | both
    create_shape: str = "nested"  # nested {consultation} | flat
    greeting_in: str = "greeting_message"  # or "messages" (inside consultation.messages[])
    history_lag: int = 0  # GETs of history that do not show the newest user message yet
    refuse_upgrades: list[int] = field(default_factory=list)  # statuses for the next upgrades
    fail_sends: list[int] = field(default_factory=list)  # statuses for the next REST sends
    fail_history: list[int] = field(default_factory=list)  # statuses for the next GET messages
    expire_token_after: int | None = None  # the access token dies after this many API calls
    reply_text: str = "Here is a reply with several words in it"
    port: int = 0
    upgrades: int = 0
    logins: int = 0
    refreshes: int = 0
    api_calls: int = 0
    sent: list[str] = field(default_factory=list)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._tokens: dict[str, str] = {}  # access token -> state ("ok" / "expired")
        self._refresh: set[str] = set()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- plumbing ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Hostile:
        sock = bind_socket("127.0.0.1", 0)
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self._app(), log_level="critical", lifespan="off", ws="websockets-sansio"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[sock])),  # type: ignore[union-attr]
            daemon=True,
        )
        self._thread.start()
        while not self._server.started:
            threading.Event().wait(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True  # do not wait for a stalled handler
        if self._thread is not None:
            self._thread.join(5)

    def _app(self) -> Starlette:
        cid = "/api/v1/consultations/{cid}"
        legacy = "/api/v1/wellness/ai/chat/conversations/{cid}"
        return Starlette(
            routes=[
                Route("/api/v1/auth/login", self._login, methods=["POST"]),
                Route("/api/v1/auth/refresh", self._refresh_route, methods=["POST"]),
                Route("/api/v1/consultations", self._create, methods=["POST"]),
                Route("/api/v1/consultations", self._list, methods=["GET"]),
                Route(cid, self._get, methods=["GET"]),
                Route(cid + "/messages", self._history, methods=["GET"]),
                Route(cid + "/messages", self._send, methods=["POST"]),
                Route(legacy + "/messages", self._history, methods=["GET"]),
                Route(legacy + "/messages", self._send, methods=["POST"]),
                WebSocketRoute(cid + "/ws", self._ws),
            ]
        )

    def _ok(self, data: Any, status: int = 200) -> JSONResponse:
        body = {"success": True, "data": data} if self.spec_envelope else {"data": data}
        return JSONResponse(body, status_code=status)

    def _error(self, status: int, message: str, **extra: Any) -> JSONResponse:
        if self.spec_envelope:
            return JSONResponse({"success": False, "error": message}, status_code=status)
        return JSONResponse({"error": {"message": message, **extra}}, status_code=status)

    def _tokens_pair(self) -> dict[str, str]:
        access, refresh = f"acc-{uuid.uuid4().hex}", f"ref-{uuid.uuid4().hex}"
        self._tokens[access] = "ok"
        self._refresh.add(refresh)
        return {"access_token": access, "refresh_token": refresh}

    def _authorized(self, token: str | None) -> bool:
        if token is None or self._tokens.get(token) != "ok":
            return False
        self.api_calls += 1
        if self.expire_token_after is not None and self.api_calls > self.expire_token_after:
            self._tokens[token] = "expired"
            self.expire_token_after = None
            return False
        return True

    @staticmethod
    def _bearer(request: Request | WebSocket) -> str | None:
        header = request.headers.get("authorization", "")
        if header.startswith("Bearer "):
            return header[7:]
        return request.query_params.get("token")

    def _message(self, cid: str, role: str, content: str) -> dict[str, Any]:
        message = {
            "id": str(uuid.uuid4()),
            "consultation_id": cid,
            "role": role,
            "content": content,
            "created_at": next(STAMPS),
        }
        self.messages.setdefault(cid, []).append(message)
        return message

    # -- routes -----------------------------------------------------------------------

    async def _login(self, request: Request) -> Response:
        if request.headers.get("x-api-key") != API_KEY:
            return self._error(401, "invalid API key")
        self.logins += 1
        return self._ok(self._tokens_pair())

    async def _refresh_route(self, request: Request) -> Response:
        token = (await request.json()).get("refresh_token")
        if token not in self._refresh:
            return self._error(401, "refresh token has been revoked")
        self._refresh.discard(token)  # single use
        self.refreshes += 1
        return self._ok(self._tokens_pair())

    async def _create(self, request: Request) -> Response:
        if not self._authorized(self._bearer(request)):
            return self._error(401, "unauthorized")
        body = await request.json()
        cid = str(uuid.uuid4())
        greeting = self._message(cid, "assistant", f"Hello, I am your {body['persona']}.")
        consultation: dict[str, Any] = {
            "id": cid,
            "persona": body["persona"],
            "status": "active",
            "message_count": 1,
            "started_at": next(STAMPS),
        }
        if self.greeting_in == "messages":
            consultation["messages"] = [greeting]
            data: dict[str, Any] = {"consultation": consultation, "needs_survey": False}
        else:
            data = {"consultation": consultation, "greeting_message": greeting}
        if self.create_shape == "flat":
            data = {**consultation}
        return self._ok(data, 201)

    async def _list(self, request: Request) -> Response:
        if not self._authorized(self._bearer(request)):
            return self._error(401, "unauthorized")
        return self._ok({"consultations": [], "total_count": 0})

    async def _get(self, request: Request) -> Response:
        if not self._authorized(self._bearer(request)):
            return self._error(401, "unauthorized")
        cid = request.path_params["cid"].lower()
        return self._ok({"id": cid, "persona": "nutritionist", "status": "active"})

    async def _history(self, request: Request) -> Response:
        if not self._authorized(self._bearer(request)):
            return self._error(401, "unauthorized")
        if self.fail_history:
            return self._error(self.fail_history.pop(0), "history failed (hostile)")
        cid = request.path_params["cid"].lower()
        messages = list(self.messages.get(cid, []))
        if self.history_lag > 0 and messages:
            # Not stored yet: the newest user message and what follows are missing, so the
            # previous reply is the last message ("last message is assistant" would stop here).
            self.history_lag -= 1
            last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
            messages = messages[:last_user]
        return self._ok({"messages": messages, "total_count": len(messages)})

    async def _send(self, request: Request) -> Response:
        if not self._authorized(self._bearer(request)):
            return self._error(401, "unauthorized")
        if self.fail_sends:
            return self._error(self.fail_sends.pop(0), "send failed (hostile)")
        cid = request.path_params["cid"].lower()
        content = (await request.json())["content"]
        self.sent.append(content)
        user = self._message(cid, "user", content)
        reply = self._message(cid, "assistant", f"{self.reply_text} ({len(self.sent)})")
        if self.send_shape == "message":
            return self._ok(user, self.send_status)
        if self.send_shape == "both":
            return self._ok({"user_message": user, "assistant_message": reply}, self.send_status)
        return self._ok({"user_message": user}, self.send_status)

    async def _ws(self, websocket: WebSocket) -> None:
        self.upgrades += 1
        if self.refuse_upgrades:
            await websocket.send_denial_response(Response(status_code=self.refuse_upgrades.pop(0)))
            return
        if not self._authorized(self._bearer(websocket)):
            await websocket.send_denial_response(Response(status_code=401))
            return
        cid = websocket.path_params["cid"].lower()
        await websocket.accept()
        await websocket.send_text(json.dumps({"type": "connected", "consultation_id": cid}))
        try:
            while True:
                event = json.loads(await websocket.receive_text())
                if event.get("type") == "ping":
                    await websocket.send_text('{"type":"pong"}')
                    continue
                text = event["content"]
                self.sent.append(text)
                self._message(cid, "user", text)
                reply = self._message(cid, "assistant", f"{self.reply_text} ({len(self.sent)})")
                for frame in self.frames(self, text, reply):
                    if frame == "close":
                        await websocket.close(1011)
                        return
                    if frame == "stall":
                        await asyncio.sleep(3600)
                    elif isinstance(frame, bytes):
                        await websocket.send_bytes(frame)
                    else:
                        await websocket.send_text(frame)
        except WebSocketDisconnect:
            return
