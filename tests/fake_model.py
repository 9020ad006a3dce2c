"""A local OpenAI-compatible chat-completions server for tests: real HTTP on 127.0.0.1, scriptable answers.

Every test that needs a language model (the reference server's openai responder, the
evaluation judge, the simulated user) talks to this over a real loopback socket; no
test reaches the network.

- ``model.answers.append(Answer(...))`` queues one answer; requests take queued answers
  in order, then fall back to ``model.respond(body) -> Answer`` (by default ``model.text``).
- ``Answer(status=429, retry_after=1)`` is a rate limit, ``Answer(raw="not json")`` a
  malformed body, ``Answer(delay_s=2)`` a slow answer, ``Answer(after_requests=2)`` one
  held until a second request has arrived, ``Answer(text=..., usage=...)`` the token usage
  reported.
- Requests with ``"stream": true`` get server-sent events with ``deltas`` (or the text
  split into words); others a whole ``chat.completion`` object.
- ``model.requests`` records each request: ``path``, ``body``, ``auth`` (the
  Authorization header) and ``at`` (monotonic time of arrival).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from lume_widget.server.runner import bind_socket


@dataclass
class Answer:
    """One scripted answer of the fake model."""

    text: str | None = None
    deltas: list[str] | None = None
    status: int = 200
    retry_after: float | None = None
    raw: str | None = None
    delay_s: float = 0.0
    after_requests: int | None = None
    usage: dict[str, int] | None = field(
        default_factory=lambda: {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60}
    )


def judge_answer(score: float, reason: str = "looks right") -> Answer:
    """The JSON a judge is asked for."""
    return Answer(text=json.dumps({"score": score, "reason": reason}))


class FakeModel:
    """The server; ``start()`` binds a free loopback port and serves on a thread."""

    def __init__(self, text: str = "Hello from the model.") -> None:
        self.text = text
        self.answers: deque[Answer] = deque()
        self.respond: Callable[[dict[str, Any]], Answer] = lambda body: Answer(text=self.text)
        self.requests: list[dict[str, Any]] = []
        self.url = ""
        self._arrived = asyncio.Condition()  # used on the server's loop only
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- what tests use ----------------------------------------------------------------

    def script(self, *answers: Answer | str) -> None:
        """Queue answers (a string is a plain text answer)."""
        for answer in answers:
            self.answers.append(Answer(text=answer) if isinstance(answer, str) else answer)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [request["body"] for request in self.requests]

    def prompts(self) -> list[str]:
        """Every request's messages joined into one text, for 'the prompt contains' checks."""
        return [
            "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
            for body in self.bodies
        ]

    # -- the endpoint ------------------------------------------------------------------

    async def completions(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": {"message": "body is not JSON"}}, status_code=400)
        self.requests.append(
            {
                "path": request.url.path,
                "body": body,
                "auth": request.headers.get("authorization"),
                "at": time.monotonic(),
            }
        )
        async with self._arrived:
            self._arrived.notify_all()
        answer = self.answers.popleft() if self.answers else self.respond(body)
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        if answer.after_requests is not None:
            wanted = answer.after_requests
            async with self._arrived:
                await asyncio.wait_for(
                    self._arrived.wait_for(lambda: len(self.requests) >= wanted), 30
                )
        if answer.status != 200:
            headers = {}
            if answer.retry_after is not None:
                headers["Retry-After"] = f"{answer.retry_after:g}"
            return JSONResponse(
                {"error": {"message": "scripted failure", "type": "server_error"}},
                status_code=answer.status,
                headers=headers,
            )
        if answer.raw is not None:
            return Response(answer.raw, media_type="application/json")
        model = str(body.get("model", "fake"))
        if body.get("stream"):
            return StreamingResponse(_events(answer, model), media_type="text/event-stream")
        return JSONResponse(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer.text or ""},
                        "finish_reason": "stop",
                    }
                ],
                **({"usage": answer.usage} if answer.usage is not None else {}),
            }
        )

    def start(self, timeout_s: float = 10.0) -> FakeModel:
        app = Starlette(routes=[Route("/v1/chat/completions", self.completions, methods=["POST"])])
        sock = bind_socket("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        server = self._server
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


async def _events(answer: Answer, model: str) -> Any:
    deltas = answer.deltas or re.findall(r"\S+\s*", answer.text or "") or [""]
    for index, delta in enumerate(deltas):
        chunk = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": delta}
                    if index
                    else {"role": "assistant", "content": delta},
                    "finish_reason": None,
                }
            ],
        }
        yield f"data: {json.dumps(chunk)}\n\n"
    final = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    }
    yield f"data: {json.dumps(final)}\n\n"
    yield "data: [DONE]\n\n"


def running_fake_model(text: str = "Hello from the model.") -> Iterator[FakeModel]:
    """Generator for fixtures: a started model, stopped afterwards."""
    model = FakeModel(text).start()
    try:
        yield model
    finally:
        model.stop()
