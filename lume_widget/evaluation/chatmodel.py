"""Calls to an OpenAI-compatible chat-completions endpoint for judges and simulated users: limited, retried, cached.

:class:`ChatModel` posts ``{url}/chat/completions`` with httpx (no SDK), at most
``concurrency`` calls at once, retrying 429 and 5xx answers (and connection errors) with
exponential backoff that honours Retry-After, each attempt bounded by a timeout. With a
:class:`ModelCache` an answer is stored on disk under a hash of (endpoint, model, the full
request), so asking the same question again costs nothing.

The API key goes in the Authorization header and nowhere else: :class:`ModelEndpoint`
keeps it out of its repr, and no error message or log line carries it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from lume_widget.core.backoff import parse_retry_after
from lume_widget.errors import LumeError

__all__ = [
    "CACHE_DIR_NAME",
    "ChatModel",
    "ModelAnswer",
    "ModelCache",
    "ModelCallError",
    "ModelEndpoint",
    "safe_url",
]

logger = logging.getLogger(__name__)

CACHE_DIR_NAME = ".lume-judge-cache"
"""The cache's folder, created beside the run directories (in the run directory's parent)."""

_RETRIED = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_MAX_RETRY_WAIT_S = 60.0


def safe_url(url: str | None) -> str | None:
    """The URL without credentials, query or fragment: what may be logged, shown and saved."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


class ModelCallError(LumeError):
    """A model call that did not give a usable answer after its retries."""


@dataclass(frozen=True, repr=False)
class ModelEndpoint:
    """Where a model lives and how to call it. The key (and any credentials in the URL) is never shown."""

    url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 60.0
    concurrency: int = 4
    max_attempts: int = 4

    def __repr__(self) -> str:
        return f"ModelEndpoint(url={safe_url(self.url)!r}, model={self.model!r})"

    @property
    def completions_url(self) -> str:
        base = self.url.rstrip("/")
        return base if base.endswith("/chat/completions") else f"{base}/chat/completions"


@dataclass(frozen=True)
class ModelAnswer:
    """What the model said, the tokens it reports having used, and whether it came from the cache."""

    text: str
    model: str
    usage: dict[str, int] = field(default_factory=dict)
    cached: bool = False


class ModelCache:
    """Answers on disk, one small JSON file per question, written atomically."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @staticmethod
    def key(endpoint: ModelEndpoint, body: dict[str, Any]) -> str:
        material = json.dumps(
            [endpoint.completions_url, endpoint.model, body], sort_keys=True, ensure_ascii=True
        )
        return hashlib.sha256(material.encode("ascii")).hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> ModelAnswer | None:
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
            return ModelAnswer(
                text=str(data["text"]),
                model=str(data["model"]),
                usage={str(k): int(v) for k, v in dict(data.get("usage") or {}).items()},
                cached=True,
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, answer: ModelAnswer) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".{os.getpid()}.{random.randrange(1 << 30)}.tmp")
            temporary.write_text(
                json.dumps({"text": answer.text, "model": answer.model, "usage": answer.usage}),
                encoding="utf-8",
            )
            os.replace(temporary, path)
        except OSError as exc:  # a cache that cannot be written only costs a later call
            logger.warning("could not write the model cache in %s: %s", self.directory, exc)


class ChatModel:
    """One endpoint's calls: a concurrency limit, retries, a timeout and an optional cache.

    ``transport`` and ``sleep`` are injectable seams; by default a fresh httpx client is
    opened on first use and closed by :meth:`aclose`.
    """

    def __init__(
        self,
        endpoint: ModelEndpoint,
        *,
        cache: ModelCache | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.endpoint = endpoint
        self.cache = cache
        self._transport = transport
        self._sleep = sleep
        self._gate = asyncio.Semaphore(max(1, endpoint.concurrency))
        self._http: httpx.AsyncClient | None = None
        self.calls = 0
        """Requests actually sent (retries included; cache hits are not calls)."""
        self.cache_hits = 0

    def __repr__(self) -> str:
        return f"ChatModel(url={safe_url(self.endpoint.url)!r}, model={self.endpoint.model!r})"

    async def complete(
        self, messages: Sequence[dict[str, str]], *, max_tokens: int | None = None
    ) -> ModelAnswer:
        """The model's answer to ``messages`` (temperature 0); raises :class:`ModelCallError`."""
        body: dict[str, Any] = {
            "model": self.endpoint.model,
            "messages": list(messages),
            "temperature": 0,
        }
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        key = ModelCache.key(self.endpoint, body) if self.cache is not None else ""
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.cache_hits += 1
                return hit
        async with self._gate:
            answer = await self._post(body)
        if self.cache is not None:
            self.cache.put(key, answer)
        return answer

    async def _post(self, body: dict[str, Any]) -> ModelAnswer:
        endpoint = self.endpoint
        headers = {"Content-Type": "application/json"}
        if endpoint.api_key:
            headers["Authorization"] = f"Bearer {endpoint.api_key}"
        http = self._client()
        problem = "no attempt was made"
        for attempt in range(1, endpoint.max_attempts + 1):
            wait: float | None = None
            try:
                self.calls += 1
                response = await http.post(
                    endpoint.completions_url, json=body, headers=headers, timeout=endpoint.timeout_s
                )
            except httpx.TimeoutException:
                problem = f"no answer within {endpoint.timeout_s:g} s"
            except httpx.HTTPError as exc:
                problem = f"could not reach it ({type(exc).__name__})"
            else:
                if response.status_code == 200:
                    return _answer(response, endpoint.model)
                problem = f"it answered HTTP {response.status_code}{_error_text(response)}"
                if response.status_code not in _RETRIED:
                    break
                wait = parse_retry_after(response.headers.get("Retry-After"))
            if attempt == endpoint.max_attempts:
                break
            delay = wait if wait is not None else min(0.5 * 2 ** (attempt - 1), 8.0)
            delay = min(delay, _MAX_RETRY_WAIT_S)
            logger.info(
                "model %s at %s: %s; retrying in %.2f s",
                endpoint.model,
                safe_url(endpoint.url),
                problem,
                delay,
            )
            await self._sleep(delay)
        raise ModelCallError(
            f"the model {endpoint.model!r} at {safe_url(endpoint.url)} gave no usable answer: {problem};"
            " check the URL, the model name and the API key variable"
        )

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(transport=self._transport, follow_redirects=False)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def _error_text(response: httpx.Response) -> str:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return ""
    return f": {str(message)[:200]}"


def _answer(response: httpx.Response, model: str) -> ModelAnswer:
    try:
        data = response.json()
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        preview = response.text[:120]
        raise ModelCallError(
            f"the model {model!r} answered something that is not a chat completion: {preview!r}"
        ) from None
    usage: dict[str, int] = {}
    raw_usage = data.get("usage") if isinstance(data, dict) else None
    if isinstance(raw_usage, dict):
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            value = raw_usage.get(name)
            if isinstance(value, int):
                usage[name] = value
    return ModelAnswer(
        text="" if content is None else str(content),
        model=str(data.get("model") or model),
        usage=usage,
    )
