"""Helpers shared by the reliability suite: users, database snapshots, waiting, leak checks.

Everything here talks to the reference server over real loopback sockets or reads its SQLite
file; nothing patches the code under test.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import psutil

API = "/api/v1"


@dataclass
class User:
    """A user of the reference server with its credentials and tokens."""

    email: str
    password: str
    access_token: str
    refresh_token: str
    api_key: str

    def headers(self, token: str | None = None, api_key: str | None = None) -> dict[str, str]:
        return {
            "X-API-Key": self.api_key if api_key is None else api_key,
            "Authorization": f"Bearer {self.access_token if token is None else token}",
        }


async def register_user(http: httpx.AsyncClient, api_key: str, label: str = "user") -> User:
    """Register a fresh user (unique email) and return it logged in."""
    email = f"{label}-{uuid.uuid4().hex[:10]}@example.test"
    password = "pw-" + uuid.uuid4().hex
    response = await http.post(
        f"{API}/auth/register",
        json={"email": email, "password": password, "name": label, "date_of_birth": "1990-01-01"},
        headers={"X-API-Key": api_key},
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    return User(email, password, data["access_token"], data["refresh_token"], api_key)


async def login_user(http: httpx.AsyncClient, api_key: str, email: str, password: str) -> User:
    response = await http.post(
        f"{API}/auth/login",
        json={"email": email, "password": password},
        headers={"X-API-Key": api_key},
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    return User(email, password, data["access_token"], data["refresh_token"], api_key)


async def create_consultation(
    http: httpx.AsyncClient, user: User, persona: str = "general_wellness", **body: Any
) -> dict[str, Any]:
    response = await http.post(
        f"{API}/consultations", json={"persona": persona, **body}, headers=user.headers()
    )
    assert response.status_code == 201, response.text
    consultation: dict[str, Any] = response.json()["data"]["consultation"]
    return consultation


async def create_goal(
    http: httpx.AsyncClient, user: User, title: str = "Walk more", **extra: Any
) -> dict[str, Any]:
    response = await http.post(
        f"{API}/goals",
        json={
            "title": title,
            "goal_type": "activity",
            "target_value": 10000,
            "target_unit": "steps",
            "start_date": "2025-01-01",
            **extra,
        },
        headers=user.headers(),
    )
    assert response.status_code == 201, response.text
    goal: dict[str, Any] = response.json()["data"]
    return goal


async def history(
    http: httpx.AsyncClient, user: User, consultation_id: str
) -> list[dict[str, Any]]:
    """The server's stored messages of a consultation, oldest first."""
    response = await http.get(
        f"{API}/consultations/{consultation_id}/messages", headers=user.headers()
    )
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["data"]["messages"]
    return messages


def database_snapshot(path: str) -> list[str]:
    """Every row of every table of a SQLite file, as SQL text (compare two to see any write)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


async def eventually(
    predicate: Callable[[], bool | Awaitable[bool]], timeout: float, what: str
) -> float:
    """Wait until ``predicate`` holds (polling: used only where no event can be awaited).

    Returns the seconds it took; fails the test with ``what`` after ``timeout``.
    """
    started = time.monotonic()
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        await asyncio.sleep(0.01)


def client_sockets(ports: Iterable[int]) -> list[Any]:
    """This process's TCP sockets whose remote end is one of ``ports`` (the client side)."""
    wanted = set(ports)
    return [
        conn
        for conn in psutil.Process().net_connections(kind="tcp")
        if conn.raddr and conn.raddr.port in wanted
    ]


def stray_tasks(
    ignore_prefixes: tuple[str, ...] = ("relay-", "harness-"),
) -> list[asyncio.Task[Any]]:
    """Tasks of the running loop other than the current one and the test's own helpers."""
    current = asyncio.current_task()
    return [
        task
        for task in asyncio.all_tasks()
        if task is not current
        and not task.done()
        and not task.get_name().startswith(ignore_prefixes)
    ]


async def assert_nothing_left_behind(ports: Iterable[int], timeout: float = 2.0) -> None:
    """No task of the client still running and no client socket still open to ``ports``."""
    port_list = list(ports)
    try:
        await eventually(
            lambda: not stray_tasks() and not client_sockets(port_list),
            timeout,
            "the client's tasks and sockets to end",
        )
    except AssertionError:
        tasks = [f"{t.get_name()}: {t.get_coro()!r}" for t in stray_tasks()]
        sockets = [f"{c.laddr} -> {c.raddr} {c.status}" for c in client_sockets(port_list)]
        raise AssertionError(f"left behind after close: tasks={tasks} sockets={sockets}") from None
