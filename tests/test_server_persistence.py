"""The reference server keeps everything in SQLite: a restart on the same file loses nothing."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from conftest import Api, ws_events

from lume_widget import defaults
from lume_widget.server import ReferenceServer
from lume_widget.server.auth import hash_password


async def test_server_restart_on_same_file_keeps_everything(
    tmp_path: Path,
    reference_server_factory: Callable[..., ReferenceServer],
    api_factory: Callable[[ReferenceServer], Api],
) -> None:
    db = tmp_path / "nested" / "lume.sqlite3"
    first = reference_server_factory(db=str(db))
    api = api_factory(first)
    await api.login()
    goal = await api.create_goal(
        "Sleep 8 hours", goal_type="custom", target_value=8, target_unit="hours"
    )
    goal_chat = (
        await api.create("wellness_specialist", context_type="goal", context_id=goal["id"])
    )["consultation"]["id"]
    plain = (await api.create("fitness_coach"))["consultation"]["id"]
    async with api.ws(goal_chat) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "message", "content": "I wake up at night"}))
        await ws_events(ws)
    await api.data("POST", f"/api/v1/consultations/{plain}/complete")
    before_active = await api.data("GET", "/api/v1/consultations")
    before_done = await api.data("GET", "/api/v1/consultations", params={"status": "completed"})
    before_messages = await api.messages(goal_chat)
    old_access, old_refresh = api.access_token, api.refresh_token
    first.stop()

    second = reference_server_factory(db=str(db))
    again = api_factory(second)
    again.access_token = old_access  # the signing secret lives in the database too
    assert await again.data("GET", "/api/v1/consultations") == before_active
    assert (
        await again.data("GET", "/api/v1/consultations", params={"status": "completed"})
        == before_done
    )
    assert await again.messages(goal_chat) == before_messages
    assert [m["role"] for m in before_messages] == ["assistant", "user", "assistant"]
    assert (await again.data("GET", "/api/v1/goals"))["goals"][0]["title"] == "Sleep 8 hours"
    refreshed = await again.http.post(
        "/api/v1/auth/refresh",
        json={"refresh_token": old_refresh},
        headers={"X-API-Key": second.api_key},
    )
    assert refreshed.status_code == 200
    await again.login()

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_server_restart_with_new_password_updates_demo_user(
    tmp_path: Path,
    reference_server_factory: Callable[..., ReferenceServer],
    api_factory: Callable[[ReferenceServer], Api],
) -> None:
    db = str(tmp_path / "lume.sqlite3")
    reference_server_factory(db=db).stop()
    server = reference_server_factory(db=db, password="a-brand-new-password")
    api = api_factory(server)
    await api.login(password="a-brand-new-password")
    old = await api.http.post(
        "/api/v1/auth/login",
        json={"email": server.email, "password": "lume-demo-password"},
        headers={"X-API-Key": server.api_key},
    )
    assert old.status_code == 401


async def test_server_stop_finishes_and_stores_replies_in_flight(
    tmp_path: Path,
    reference_server_factory: Callable[..., ReferenceServer],
    api_factory: Callable[[ReferenceServer], Api],
) -> None:
    db = str(tmp_path / "lume.sqlite3")
    server = reference_server_factory(db=db, chunk_delay_ms=5)
    api = api_factory(server)
    await api.login()
    cid = (await api.create())["consultation"]["id"]
    async with api.ws(cid) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "message", "content": "/long 100"}))
        first = json.loads(await ws.recv())
        assert first["type"] == "message_received"
        await ws.recv()  # the first chunk: the reply is under way
    server.stop()
    restarted = api_factory(reference_server_factory(db=db))
    await restarted.login()
    messages = await restarted.messages(cid)
    assert messages[-1]["role"] == "assistant"
    assert len(messages[-1]["content"].split()) >= 100


def test_server_several_processes_can_start_on_one_new_file(tmp_path: Path) -> None:
    import json as json_module
    import os
    import subprocess
    import sys

    db = str(tmp_path / "shared.sqlite3")
    command = [
        sys.executable,
        "-m",
        "lume_widget.server",
        "--port",
        "0",
        "--db",
        db,
        "--ready-json",
    ]
    root = Path(__file__).parents[1]
    processes = [
        subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=root,
            env=os.environ,
        )
        for _ in range(4)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line, process.stderr.read() if process.stderr else ""
            assert json_module.loads(line)["url"].startswith("http://127.0.0.1:")
    finally:
        for process in processes:
            process.terminate()
            process.communicate(timeout=15)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 1


# The users and goals tables as the first release of the server wrote them.
OLD_SCHEMA = """
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    name TEXT,
    date_of_birth TEXT,
    created_at INTEGER NOT NULL
);
CREATE TABLE goals (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    description TEXT,
    goal_type TEXT,
    current_value REAL,
    target_value REAL,
    target_unit TEXT,
    target_date TEXT,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
"""


async def test_server_opens_an_old_schema_database_and_keeps_its_goals(
    tmp_path: Path,
    reference_server_factory: Callable[..., ReferenceServer],
    api_factory: Callable[[ReferenceServer], Api],
) -> None:
    db = tmp_path / "old.sqlite3"
    created = 1_731_870_000 * 10**9  # 2024-11-17
    with sqlite3.connect(db) as conn:
        conn.executescript(OLD_SCHEMA)
        conn.execute(
            "INSERT INTO users VALUES ('u-old', ?, ?, 'Demo User', NULL, ?)",
            (defaults.DEFAULT_EMAIL, hash_password(defaults.DEFAULT_PASSWORD), created),
        )
        conn.executemany(
            "INSERT INTO goals VALUES (?, 'u-old', ?, NULL, ?, ?, ?, ?, ?, 'active', ?, ?)",
            [
                (
                    OLD_SLEEP,
                    "Sleep 8 hours",
                    "sleep",
                    6,
                    8,
                    "hours",
                    "2025-03-01",
                    created,
                    created,
                ),
                (OLD_WATER, "Drink more water", None, None, None, None, None, created, created),
            ],
        )
    conn.close()
    api = api_factory(reference_server_factory(db=str(db)))
    await api.login()
    page = await api.data("GET", "/api/v1/goals")
    assert page["total"] == 2
    sleep, water = page["goals"]
    assert (sleep["id"], sleep["title"], sleep["current_value"]) == (OLD_SLEEP, "Sleep 8 hours", 6)
    assert sleep["goal_type"] == "custom"  # "sleep" is not a type the goals API knows
    assert sleep["progress"] == 0.75
    assert (sleep["start_date"], sleep["target_date"]) == ("2024-11-17", "2025-03-01")
    assert sleep["is_recurring"] is False
    assert (water["current_value"], water["target_value"], water["target_unit"]) == (0, 0, "")
    moved = await api.data(
        "PATCH", f"/api/v1/goals/{OLD_SLEEP}/progress", json={"current_value": 7}
    )
    assert moved["progress"] == 0.875
    chat = await api.create("wellness_specialist", context_type="goal", context_id=OLD_SLEEP)
    assert "Sleep 8 hours" in chat["greeting_message"]["content"]
    fresh = await api.create_goal("Walk", goal_type="activity")
    again = api_factory(reference_server_factory(db=str(db)))  # a second open changes nothing
    await again.login()
    assert [g["id"] for g in (await again.data("GET", "/api/v1/goals"))["goals"]] == [
        OLD_SLEEP,
        OLD_WATER,
        fresh["id"],
    ]


OLD_SLEEP = "0b6a39e4-5f37-4a7e-9a34-3d5f0c2a1b01"
OLD_WATER = "0b6a39e4-5f37-4a7e-9a34-3d5f0c2a1b02"
