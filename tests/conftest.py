"""Shared fixtures: a reference server on a free loopback port, and a logged-in API helper.

``reference_server`` is a fresh server (fresh in-memory database, no faults, no chunk
pacing) for each test, stopped afterwards. It exposes ``url``, ``ws_url``, ``api_key``,
``email``, ``password``, ``admin_token``, ``set_faults(**faults)`` and ``clear_faults()``.
``reference_server_factory(**config)`` starts more, with any ServerConfig field changed
(``profile="spec"``, ``db=path``, ``access_ttl_s=1``, ...).

Timing-dependent values in tests are multiplied by ``LUME_TEST_TIME_SCALE`` (default 1),
so a slow machine can scale every timeout with one setting.

A test run never touches the user's own data: ``LUME_DATA_DIR`` points at a temporary
directory for the whole run, so the embedded server (and every kernel or subprocess the
tests start) keeps its database there, and no run depends on what an earlier one left.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import websockets

from lume_widget.server import ReferenceServer, ServerConfig

TIME_SCALE = float(os.environ.get("LUME_TEST_TIME_SCALE", "1"))


def scaled(seconds: float) -> float:
    """A timeout scaled by LUME_TEST_TIME_SCALE."""
    return seconds * TIME_SCALE


_RUN_DATA_DIR: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _RUN_DATA_DIR
    _RUN_DATA_DIR = tempfile.mkdtemp(prefix="lume-test-data-")
    os.environ["LUME_DATA_DIR"] = _RUN_DATA_DIR


def pytest_unconfigure(config: pytest.Config) -> None:
    if _RUN_DATA_DIR is not None:
        shutil.rmtree(_RUN_DATA_DIR, ignore_errors=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    # Declared here so `pytest --run-slow` works from the repository root; the suites that
    # have soak variants (tests/reliability) read it.
    parser.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help="also run the long soak variants (tests marked slow); or set LUME_RUN_SLOW=1",
    )


@pytest.fixture
def time_scale() -> float:
    return TIME_SCALE


@pytest.fixture
def reference_server_factory() -> Iterator[Callable[..., ReferenceServer]]:
    started: list[ReferenceServer] = []

    def start(**config: Any) -> ReferenceServer:
        config.setdefault("chunk_delay_ms", 0)
        server = ReferenceServer(ServerConfig(**config)).start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def reference_server(reference_server_factory: Callable[..., ReferenceServer]) -> ReferenceServer:
    return reference_server_factory()


class Api:
    """A thin test client over httpx and websockets, speaking the wire protocol directly."""

    def __init__(self, server: ReferenceServer, http: httpx.AsyncClient) -> None:
        self.server = server
        self.http = http
        self.access_token = ""
        self.refresh_token = ""

    @property
    def headers(self) -> dict[str, str]:
        headers = {"X-API-Key": self.server.api_key}
        if self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        return headers

    async def login(self, email: str | None = None, password: str | None = None) -> dict[str, Any]:
        response = await self.http.post(
            "/api/v1/auth/login",
            json={
                "email": email or self.server.email,
                "password": password or self.server.password,
            },
            headers={"X-API-Key": self.server.api_key},
        )
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        self.access_token, self.refresh_token = data["access_token"], data["refresh_token"]
        return data

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def data(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = await self.request(method, path, **kwargs)
        assert response.status_code == expect, f"{response.status_code}: {response.text}"
        return response.json()["data"]

    async def create(self, persona: str = "general_wellness", **body: Any) -> dict[str, Any]:
        data: dict[str, Any] = await self.data(
            "POST", "/api/v1/consultations", expect=201, json={"persona": persona, **body}
        )
        return data

    async def create_goal(
        self, title: str = "Walk 10000 steps a day", current_value: float | None = None, **body: Any
    ) -> dict[str, Any]:
        """A goal with every field the goals API requires (defaults filled), and its progress."""
        fields = {
            "title": title,
            "goal_type": "activity",
            "target_value": 10000,
            "target_unit": "steps",
            "start_date": "2025-01-01",
            **body,
        }
        goal: dict[str, Any] = await self.data("POST", "/api/v1/goals", expect=201, json=fields)
        if current_value is not None:
            goal = await self.data(
                "PATCH",
                f"/api/v1/goals/{goal['id']}/progress",
                json={"current_value": current_value},
            )
        return goal

    async def messages(self, consultation_id: str) -> list[dict[str, Any]]:
        data = await self.data("GET", f"/api/v1/consultations/{consultation_id}/messages")
        messages: list[dict[str, Any]] = data["messages"]
        return messages

    def ws(self, consultation_id: str, *, legacy: bool = False, **kwargs: Any) -> Any:
        path = (
            f"/api/v1/wellness/ai/chat/ws/{consultation_id}"
            if legacy
            else f"/api/v1/consultations/{consultation_id}/ws"
        )
        kwargs.setdefault("additional_headers", self.headers)
        kwargs.setdefault("open_timeout", scaled(5))
        return websockets.connect(self.server.ws_url + path, **kwargs)


async def ws_events(
    ws: Any, until: str = "stream_complete", timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Read events (splitting packed frames) up to and including the first of type ``until``."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(scaled(timeout)):
        while True:
            frame = await ws.recv()
            for line in frame.split("\n"):
                if not line.strip():
                    continue
                event = json.loads(line)
                events.append(event)
                if event.get("type") == until:
                    return events


@pytest.fixture
async def api(reference_server: ReferenceServer) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=reference_server.url, timeout=scaled(10)) as http:
        client = Api(reference_server, http)
        await client.login()
        yield client


@pytest.fixture
async def api_factory() -> AsyncIterator[Callable[[ReferenceServer], Api]]:
    """Make more Api helpers (for other servers); each is closed after the test."""
    clients: list[httpx.AsyncClient] = []

    def make(server: ReferenceServer) -> Api:
        http = httpx.AsyncClient(base_url=server.url, timeout=scaled(10))
        clients.append(http)
        return Api(server, http)

    yield make
    for http in clients:
        await http.aclose()


@pytest.fixture
def model_server() -> Iterator[Any]:
    """A local OpenAI-compatible model (tests/fake_model.py) on a loopback port, for judges and simulators."""
    from fake_model import running_fake_model

    yield from running_fake_model()
