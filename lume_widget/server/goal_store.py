"""The reference server's goals in SQLite: the table, its migration, and every goal query.

A goal row holds what CreateGoalRequest takes (PROTOCOL B9.2) plus ``current_value``,
``status`` and ``completed_at``; each progress update is kept in ``goal_updates`` so the
statistics (B9.5 GoalStatistics) can be computed. Files written by older versions of the
server had a goals table without the dates and recurrence columns: :func:`migrate_goals`
adds them with defaults (``start_date`` from ``created_at``, ``current_value`` 0, a type
outside the four the backend knows becomes ``custom``), so an old database keeps working.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from lume_widget.server.wire import new_id, now_ns

__all__ = ["GOALS_SCHEMA", "GoalStatusError", "GoalStore", "migrate_goals"]

T = TypeVar("T")
Row = dict[str, Any]


class Transaction(Protocol):
    """Runs ``fn`` as one committed transaction on the store's thread (``Store._tx_async``)."""

    def __call__(self, fn: Callable[[sqlite3.Connection], T]) -> Awaitable[T]: ...


GOAL_TYPES = ("weight", "activity", "nutrition", "custom")

GOALS_SCHEMA = """
CREATE TABLE IF NOT EXISTS goals (
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
CREATE TABLE IF NOT EXISTS goal_updates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    goal_id TEXT NOT NULL REFERENCES goals(id) ON DELETE CASCADE,
    value REAL NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS goal_updates_by_goal ON goal_updates(goal_id, seq);
CREATE TABLE IF NOT EXISTS goal_instances (
    id TEXT PRIMARY KEY,
    goal_id TEXT NOT NULL REFERENCES goals(id) ON DELETE CASCADE,
    instance_date TEXT NOT NULL,
    target_value REAL NOT NULL,
    current_value REAL NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (goal_id, instance_date)
);
CREATE TABLE IF NOT EXISTS goal_activities (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    goal_id TEXT NOT NULL REFERENCES goals(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    activity_type TEXT NOT NULL,
    value REAL NOT NULL,
    notes TEXT,
    logged_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS goal_activities_by_goal ON goal_activities(goal_id, seq);
"""

# Columns added after the first release, with the defaults old rows get.
_ADDED_COLUMNS = (
    ("start_date", "TEXT"),
    ("is_recurring", "INTEGER NOT NULL DEFAULT 0"),
    ("recurrence_pattern", "TEXT"),
    ("recurrence_days", "TEXT"),
    ("recurrence_end_date", "TEXT"),
    ("completed_at", "INTEGER"),
)
_COLUMNS = (
    "id, user_id, title, description, goal_type, current_value, target_value, target_unit, "
    "target_date, status, created_at, updated_at, start_date, is_recurring, recurrence_pattern, "
    "recurrence_days, recurrence_end_date, completed_at"
)


def migrate_goals(conn: sqlite3.Connection) -> None:
    """Create the goals tables, or bring an older file's up to date, in one transaction.

    Safe when several servers open one file at once: the columns are checked again
    inside the write lock, so only the first adds them.
    """
    conn.executescript(GOALS_SCHEMA)
    conn.execute("BEGIN IMMEDIATE")
    try:
        present = {row[1] for row in conn.execute("PRAGMA table_info(goals)")}
        added = [(name, decl) for name, decl in _ADDED_COLUMNS if name not in present]
        for name, decl in added:
            conn.execute(f"ALTER TABLE goals ADD COLUMN {name} {decl}")
        if added:
            placeholders = ", ".join("?" for _ in GOAL_TYPES)
            conn.execute(
                "UPDATE goals SET start_date = date(created_at / 1000000000, 'unixepoch') "
                "WHERE start_date IS NULL"
            )
            conn.execute("UPDATE goals SET current_value = 0 WHERE current_value IS NULL")
            conn.execute("UPDATE goals SET target_value = 0 WHERE target_value IS NULL")
            conn.execute("UPDATE goals SET target_unit = '' WHERE target_unit IS NULL")
            conn.execute(
                f"UPDATE goals SET goal_type = 'custom' WHERE goal_type IS NULL "
                f"OR goal_type NOT IN ({placeholders})",
                GOAL_TYPES,
            )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class GoalStore:
    """Goal queries, each one whole transaction run by ``transaction`` (the Store's)."""

    def __init__(self, transaction: Transaction) -> None:
        self._tx = transaction

    async def create(self, user_id: str, fields: Row) -> Row:
        """Insert a new goal: ``current_value`` 0, ``status`` active (B9.5)."""

        def op(conn: sqlite3.Connection) -> Row:
            now = now_ns()
            row: Row = {
                "id": new_id(),
                "user_id": user_id,
                "description": None,
                "target_date": None,
                "is_recurring": 0,
                "recurrence_pattern": None,
                "recurrence_days": None,
                "recurrence_end_date": None,
                **fields,
                "current_value": 0.0,
                "status": "active",
                "completed_at": None,
                "created_at": now,
                "updated_at": now,
            }
            if isinstance(row["recurrence_days"], list):
                row["recurrence_days"] = json.dumps(row["recurrence_days"])
            row["is_recurring"] = int(bool(row["is_recurring"]))
            names = [c.strip() for c in _COLUMNS.split(",")]
            conn.execute(
                f"INSERT INTO goals({_COLUMNS}) VALUES ({', '.join(':' + n for n in names)})",
                row,
            )
            return _goal(conn, row["id"])

        return await self._tx(op)

    async def get(self, goal_id: str) -> Row | None:
        return await self._tx(lambda conn: _goal_or_none(conn, goal_id))

    async def page(
        self,
        user_id: str,
        *,
        status: str | None,
        goal_type: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Row], int]:
        """One page of a user's goals, oldest first, and how many match the filters."""

        def op(conn: sqlite3.Connection) -> tuple[list[Row], int]:
            where = "user_id = ?"
            params: list[Any] = [user_id]
            if status is not None:
                where += " AND status = ?"
                params.append(status)
            if goal_type is not None:
                where += " AND goal_type = ?"
                params.append(goal_type)
            (total,) = conn.execute(f"SELECT COUNT(*) FROM goals WHERE {where}", params).fetchone()
            if offset >= total:
                return [], int(total)
            rows = conn.execute(
                f"SELECT * FROM goals WHERE {where} ORDER BY created_at, rowid LIMIT ? OFFSET ?",
                (*params, limit, offset),
            ).fetchall()
            return [_decode(dict(r)) for r in rows], int(total)

        return await self._tx(op)

    async def update(self, goal_id: str, fields: Row) -> Row:
        """Change the given columns (title, description, target_value, target_date)."""

        def op(conn: sqlite3.Connection) -> Row:
            assignments = ", ".join(f"{name} = :{name}" for name in fields)
            conn.execute(
                f"UPDATE goals SET {assignments}, updated_at = :updated_at WHERE id = :id",
                {**fields, "updated_at": now_ns(), "id": goal_id},
            )
            return _goal(conn, goal_id)

        return await self._tx(op)

    async def set_progress(self, goal_id: str, value: float) -> Row:
        """Record a new ``current_value`` and remember the update for the statistics."""

        def op(conn: sqlite3.Connection) -> Row:
            now = now_ns()
            conn.execute(
                "UPDATE goals SET current_value = ?, updated_at = ? WHERE id = ?",
                (value, now, goal_id),
            )
            conn.execute(
                "INSERT INTO goal_updates(goal_id, value, created_at) VALUES (?, ?, ?)",
                (goal_id, value, now),
            )
            return _goal(conn, goal_id)

        return await self._tx(op)

    async def finish(self, goal_id: str, status: str, refuse_from: tuple[str, ...]) -> Row:
        """Move a goal to ``completed`` or ``abandoned``; GoalStatusError if it is in ``refuse_from``."""

        def op(conn: sqlite3.Connection) -> Row:
            row = _goal(conn, goal_id)
            if row["status"] in refuse_from:
                raise GoalStatusError(row["status"])
            now = now_ns()
            conn.execute(
                "UPDATE goals SET status = ?, completed_at = ?, updated_at = ? WHERE id = ?",
                (status, now if status == "completed" else None, now, goal_id),
            )
            return _goal(conn, goal_id)

        return await self._tx(op)

    async def updates(self, goal_id: str) -> list[tuple[float, int]]:
        """Every progress update of a goal, oldest first: (value, nanoseconds)."""
        return await self._tx(
            lambda conn: [
                (float(r[0]), int(r[1]))
                for r in conn.execute(
                    "SELECT value, created_at FROM goal_updates WHERE goal_id = ? ORDER BY seq",
                    (goal_id,),
                )
            ]
        )

    # -- instances of recurring goals, and activities (B9.6) ----------------------------

    async def instance_for(self, goal: Row, day: str) -> Row:
        """The goal's instance for ``day`` (YYYY-MM-DD), created on first ask."""

        def op(conn: sqlite3.Connection) -> Row:
            now = now_ns()
            conn.execute(
                "INSERT OR IGNORE INTO goal_instances(id, goal_id, instance_date, target_value, "
                "current_value, created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?)",
                (new_id(), goal["id"], day, float(goal.get("target_value") or 0), now, now),
            )
            return _row(
                conn,
                "SELECT * FROM goal_instances WHERE goal_id = ? AND instance_date = ?",
                (goal["id"], day),
            )

        return await self._tx(op)

    async def instance(self, instance_id: str) -> Row | None:
        return await self._tx(
            lambda conn: _row_or_none(
                conn, "SELECT * FROM goal_instances WHERE id = ?", (instance_id,)
            )
        )

    async def set_instance_progress(self, instance_id: str, value: float) -> Row:
        def op(conn: sqlite3.Connection) -> Row:
            conn.execute(
                "UPDATE goal_instances SET current_value = ?, updated_at = ? WHERE id = ?",
                (value, now_ns(), instance_id),
            )
            return _row(conn, "SELECT * FROM goal_instances WHERE id = ?", (instance_id,))

        return await self._tx(op)

    async def instances(self, goal_id: str, start: str | None, end: str | None) -> list[Row]:
        """Every instance of a goal from ``start`` to ``end`` (dates, inclusive), newest first."""

        def op(conn: sqlite3.Connection) -> list[Row]:
            rows = conn.execute(
                "SELECT * FROM goal_instances WHERE goal_id = ? AND instance_date >= ? "
                "AND instance_date <= ? ORDER BY instance_date DESC",
                (goal_id, start or "0000-00-00", end or "9999-99-99"),
            ).fetchall()
            return [dict(r) for r in rows]

        return await self._tx(op)

    async def add_activity(self, goal: Row, fields: Row) -> Row:
        def op(conn: sqlite3.Connection) -> Row:
            now = now_ns()
            row = {
                "id": new_id(),
                "goal_id": goal["id"],
                "user_id": goal["user_id"],
                "logged_at": now,
                "created_at": now,
                **fields,
            }
            conn.execute(
                "INSERT INTO goal_activities(id, goal_id, user_id, activity_type, value, notes, "
                "logged_at, created_at) VALUES (:id, :goal_id, :user_id, :activity_type, :value, "
                ":notes, :logged_at, :created_at)",
                row,
            )
            return row

        return await self._tx(op)

    async def activities(
        self, goal_id: str, activity_type: str | None, limit: int, offset: int
    ) -> tuple[list[Row], int]:
        """One page of a goal's activities, newest first, and how many match."""

        def op(conn: sqlite3.Connection) -> tuple[list[Row], int]:
            where, params = "goal_id = ?", [goal_id]
            if activity_type is not None:
                where += " AND activity_type = ?"
                params.append(activity_type)
            (total,) = conn.execute(
                f"SELECT COUNT(*) FROM goal_activities WHERE {where}", params
            ).fetchone()
            if offset >= total:
                return [], int(total)
            rows = conn.execute(
                f"SELECT * FROM goal_activities WHERE {where} ORDER BY seq DESC LIMIT ? OFFSET ?",
                (*params, limit, offset),
            ).fetchall()
            return [dict(r) for r in rows], int(total)

        return await self._tx(op)

    async def delete(self, goal_id: str) -> bool:
        return await self._tx(
            lambda conn: conn.execute("DELETE FROM goals WHERE id = ?", (goal_id,)).rowcount > 0
        )


class GoalStatusError(Exception):
    """The goal's status forbids the change; ``status`` is the one it has."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


def _row_or_none(conn: sqlite3.Connection, sql: str, params: Any) -> Row | None:
    row = conn.execute(sql, params).fetchone()
    return None if row is None else dict(row)


def _row(conn: sqlite3.Connection, sql: str, params: Any) -> Row:
    row = _row_or_none(conn, sql, params)
    assert row is not None, params
    return row


def _goal_or_none(conn: sqlite3.Connection, goal_id: str) -> Row | None:
    row = conn.execute("SELECT * FROM goals WHERE id = ?", (goal_id,)).fetchone()
    return None if row is None else _decode(dict(row))


def _goal(conn: sqlite3.Connection, goal_id: str) -> Row:
    row = _goal_or_none(conn, goal_id)
    assert row is not None, goal_id
    return row


def _decode(row: Row) -> Row:
    days = row.get("recurrence_days")
    row["recurrence_days"] = json.loads(days) if isinstance(days, str) else None
    row["is_recurring"] = bool(row.get("is_recurring"))
    return row
