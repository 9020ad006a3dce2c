"""SQLite storage for the reference server: users, tokens, consultations, messages (goals: goal_store).

One connection, used from one dedicated thread, so every public method runs as one whole
transaction that no other write can interleave with. A method returns only after its
transaction is committed: whatever the server reports to a client has been written
(PROTOCOL A5, "writes committed before the client is told"). Timestamps are stored as
integer nanoseconds since the epoch; message order is the insertion order (``seq``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from lume_widget.server.goal_store import GoalStore, migrate_goals
from lume_widget.server.wire import new_id, now_ns

logger = logging.getLogger(__name__)

T = TypeVar("T")
Row = dict[str, Any]

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    name TEXT,
    date_of_birth TEXT,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS consultations (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    persona TEXT NOT NULL,
    status TEXT NOT NULL,
    goal_id TEXT,
    context_type TEXT,
    context_id TEXT,
    quick_action TEXT,
    goal_snapshot TEXT,
    started_at INTEGER NOT NULL,
    completed_at INTEGER,
    last_message_at INTEGER,
    message_count INTEGER NOT NULL DEFAULT 0,
    has_context_for_goal_suggestions INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS consultations_by_user ON consultations(user_id, status, started_at);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    consultation_id TEXT NOT NULL REFERENCES consultations(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    tokens_used INTEGER,
    processing_time_ms INTEGER,
    created_at INTEGER NOT NULL,
    reply_to TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_consultation ON messages(consultation_id, seq);
"""

# Enough user messages for the backend to have "context for goal suggestions".
GOAL_SUGGESTION_USER_MESSAGES = 2


@dataclass(frozen=True)
class NewMessage:
    role: str
    content: str
    tokens_used: int | None = None
    processing_time_ms: int | None = None
    reply_to: str | None = None
    """For a reply: the id of the user message it answers."""


class StoreError(Exception):
    """A constraint the caller must report (duplicate email, missing row, ...)."""

    def __init__(self, kind: str, row: Row | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.row = row


class Store:
    """The server's database. Create with ``await Store.open(path)``; close with ``aclose``."""

    def __init__(self, path: str, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lume-sqlite")
        self._conn: sqlite3.Connection | None = None
        self.goals = GoalStore(self._tx_async)

    @classmethod
    async def open(cls, path: str, busy_timeout_ms: int = 5000) -> Store:
        store = cls(path, busy_timeout_ms)
        await store._run(store._open_sync)
        return store

    async def aclose(self) -> None:
        if self._conn is not None:
            await self._run(self._close_sync)
        self._executor.shutdown(wait=True)

    # -- plumbing -------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _open_sync(self) -> None:
        if self.path != ":memory:":
            Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path if self.path == ":memory:" else str(Path(self.path).expanduser()),
            isolation_level=None,
            check_same_thread=False,
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        if self.path != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.executescript(SCHEMA)
        _add_reply_to(conn)
        migrate_goals(conn)
        self._conn = conn
        logger.info("database ready at %s", self.path)

    def _close_sync(self) -> None:
        assert self._conn is not None
        self._conn.close()
        self._conn = None

    def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` inside one transaction: committed on return, rolled back on error."""
        conn = self._conn
        assert conn is not None, "store is closed"
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def _tx_async(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._run(self._tx, fn)

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in a read transaction: it takes no write lock, so reads go on while
        another connection writes (WAL), and a stuck writer never fails a history read."""
        conn = self._conn
        assert conn is not None, "store is closed"
        conn.execute("BEGIN")
        try:
            return fn(conn)
        finally:
            conn.execute("COMMIT")

    async def _read_async(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._run(self._read, fn)

    # -- settings -------------------------------------------------------------------

    async def secret(self, key: str) -> str:
        """A random secret kept in the database, so tokens survive a restart."""

        def op(conn: sqlite3.Connection) -> str:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
            if row is not None:
                return str(row["value"])
            value = secrets.token_urlsafe(48)
            conn.execute("INSERT INTO settings(key, value) VALUES (?, ?)", (key, value))
            return value

        return await self._tx_async(op)

    # -- users and refresh tokens ---------------------------------------------------

    async def create_user(
        self, email: str, password_hash: str, name: str | None, date_of_birth: str | None
    ) -> Row:
        def op(conn: sqlite3.Connection) -> Row:
            if conn.execute("SELECT 1 FROM users WHERE email = ?", (email,)).fetchone():
                raise StoreError("email_exists")
            row = {
                "id": new_id(),
                "email": email,
                "password_hash": password_hash,
                "name": name,
                "date_of_birth": date_of_birth,
                "created_at": now_ns(),
            }
            conn.execute(
                "INSERT INTO users(id, email, password_hash, name, date_of_birth, created_at) "
                "VALUES (:id, :email, :password_hash, :name, :date_of_birth, :created_at)",
                row,
            )
            return row

        return await self._tx_async(op)

    async def set_password(self, user_id: str, password_hash: str) -> None:
        await self._tx_async(
            lambda conn: conn.execute(
                "UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id)
            )
        )

    async def user_by_email(self, email: str) -> Row | None:
        return await self._read_async(
            lambda conn: _one(conn, "SELECT * FROM users WHERE email = ?", (email,))
        )

    async def user_by_id(self, user_id: str) -> Row | None:
        return await self._read_async(
            lambda conn: _one(conn, "SELECT * FROM users WHERE id = ?", (user_id,))
        )

    async def add_refresh_token(self, token_hash: str, user_id: str, expires_at: int) -> None:
        await self._tx_async(
            lambda conn: conn.execute(
                "INSERT INTO refresh_tokens(token_hash, user_id, expires_at, created_at) "
                "VALUES (?, ?, ?, ?)",
                (token_hash, user_id, expires_at, now_ns()),
            )
        )

    async def rotate_refresh_token(self, old_hash: str, new_hash: str, new_expires_at: int) -> str:
        """Revoke ``old_hash`` and store ``new_hash`` for the same user, atomically.

        Returns the user id; raises StoreError ``unknown``, ``revoked`` or ``expired``.
        """

        def op(conn: sqlite3.Connection) -> str:
            row = _one(conn, "SELECT * FROM refresh_tokens WHERE token_hash = ?", (old_hash,))
            if row is None:
                raise StoreError("unknown")
            if row["revoked"]:
                raise StoreError("revoked")
            now = now_ns()
            if row["expires_at"] <= now:
                raise StoreError("expired")
            conn.execute("UPDATE refresh_tokens SET revoked = 1 WHERE token_hash = ?", (old_hash,))
            conn.execute(
                "INSERT INTO refresh_tokens(token_hash, user_id, expires_at, created_at) "
                "VALUES (?, ?, ?, ?)",
                (new_hash, row["user_id"], new_expires_at, now),
            )
            return str(row["user_id"])

        return await self._tx_async(op)

    async def revoke_refresh_token(self, token_hash: str) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE refresh_tokens SET revoked = 1 WHERE token_hash = ? AND revoked = 0",
                (token_hash,),
            )
            return cur.rowcount > 0

        return await self._tx_async(op)

    # -- consultations --------------------------------------------------------------

    async def create_consultation(
        self,
        fields: Row,
        first_messages: list[NewMessage],
        *,
        max_active: int,
        conflict_on_duplicate: bool,
    ) -> tuple[Row, list[Row]]:
        """Insert a consultation and its first messages in one transaction.

        Raises StoreError ``too_many`` when the user already has ``max_active`` active
        consultations, and ``exists`` (with the existing row) when ``conflict_on_duplicate``
        is set and an active one of the same persona and goal exists.
        """

        def op(conn: sqlite3.Connection) -> tuple[Row, list[Row]]:
            user_id = fields["user_id"]
            if conflict_on_duplicate:
                existing = _one(
                    conn,
                    "SELECT * FROM consultations WHERE user_id = ? AND status = 'active' "
                    "AND persona = ? AND goal_id IS ? ORDER BY started_at DESC LIMIT 1",
                    (user_id, fields["persona"], fields.get("goal_id")),
                )
                if existing is not None:
                    raise StoreError("exists", existing)
            (active,) = conn.execute(
                "SELECT COUNT(*) FROM consultations WHERE user_id = ? AND status = 'active'",
                (user_id,),
            ).fetchone()
            if active >= max_active:
                raise StoreError("too_many")
            now = now_ns()
            row: Row = {
                "id": new_id(),
                "status": "active",
                "goal_id": None,
                "context_type": None,
                "context_id": None,
                "quick_action": None,
                "goal_snapshot": None,
                "started_at": now,
                "completed_at": None,
                "last_message_at": None,
                "message_count": 0,
                "has_context_for_goal_suggestions": 0,
                "created_at": now,
                "updated_at": now,
                **fields,
            }
            conn.execute(
                "INSERT INTO consultations(id, user_id, persona, status, goal_id, context_type, "
                "context_id, quick_action, goal_snapshot, started_at, completed_at, "
                "last_message_at, message_count, has_context_for_goal_suggestions, created_at, "
                "updated_at) VALUES (:id, :user_id, :persona, :status, :goal_id, :context_type, "
                ":context_id, :quick_action, :goal_snapshot, :started_at, :completed_at, "
                ":last_message_at, :message_count, :has_context_for_goal_suggestions, "
                ":created_at, :updated_at)",
                row,
            )
            messages = [_insert_message(conn, row["id"], m) for m in first_messages]
            return _one_required(conn, row["id"]), messages

        return await self._tx_async(op)

    async def consultation(self, consultation_id: str) -> Row | None:
        return await self._read_async(
            lambda conn: _one(conn, "SELECT * FROM consultations WHERE id = ?", (consultation_id,))
        )

    async def list_consultations(
        self, user_id: str, status: str, persona: str | None, limit: int, offset: int
    ) -> tuple[list[Row], int]:
        def op(conn: sqlite3.Connection) -> tuple[list[Row], int]:
            where = "user_id = ? AND status = ?"
            params: list[Any] = [user_id, status]
            if persona is not None:
                where += " AND persona = ?"
                params.append(persona)
            (total,) = conn.execute(
                f"SELECT COUNT(*) FROM consultations WHERE {where}", params
            ).fetchone()
            rows = _all(
                conn,
                f"SELECT * FROM consultations WHERE {where} "
                "ORDER BY started_at DESC, rowid DESC LIMIT ? OFFSET ?",
                (*params, limit, offset),
            )
            return rows, int(total)

        return await self._read_async(op)

    async def delete_consultation(self, consultation_id: str) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("DELETE FROM consultations WHERE id = ?", (consultation_id,))
            return cur.rowcount > 0

        return await self._tx_async(op)

    async def complete_consultation(self, consultation_id: str) -> Row:
        """active -> completed; raises StoreError ``missing`` or ``not_active``."""

        def op(conn: sqlite3.Connection) -> Row:
            row = _one(conn, "SELECT * FROM consultations WHERE id = ?", (consultation_id,))
            if row is None:
                raise StoreError("missing")
            if row["status"] != "active":
                raise StoreError("not_active", row)
            now = now_ns()
            conn.execute(
                "UPDATE consultations SET status = 'completed', completed_at = ?, updated_at = ? "
                "WHERE id = ?",
                (now, now, consultation_id),
            )
            return _one_required(conn, consultation_id)

        return await self._tx_async(op)

    # -- messages -------------------------------------------------------------------

    async def add_message(
        self, consultation_id: str, message: NewMessage, *, require_active: bool
    ) -> tuple[Row, Row]:
        """Append a message and update the consultation's counters, atomically.

        Returns (message, consultation); raises StoreError ``missing`` (the consultation
        was deleted) or ``not_active`` when ``require_active`` and it is not active.
        """

        def op(conn: sqlite3.Connection) -> tuple[Row, Row]:
            row = _one(conn, "SELECT * FROM consultations WHERE id = ?", (consultation_id,))
            if row is None:
                raise StoreError("missing")
            if require_active and row["status"] != "active":
                raise StoreError("not_active", row)
            stored = _insert_message(conn, consultation_id, message)
            return stored, _one_required(conn, consultation_id)

        return await self._tx_async(op)

    async def unanswered(self) -> list[tuple[str, str]]:
        """(consultation id, user message id) of active consultations whose last message is
        a user's: a reply the server owed when it stopped (killed mid-reply, a crash)."""

        def op(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            rows = conn.execute(
                "SELECT m.consultation_id, m.id FROM messages m "
                "JOIN consultations c ON c.id = m.consultation_id "
                "WHERE c.status = 'active' AND m.role = 'user' AND m.seq = "
                "(SELECT MAX(seq) FROM messages WHERE consultation_id = m.consultation_id) "
                "ORDER BY m.seq"
            ).fetchall()
            return [(str(r[0]), str(r[1])) for r in rows]

        return await self._read_async(op)

    async def messages(
        self, consultation_id: str, limit: int | None = None, offset: int = 0
    ) -> tuple[list[Row], int]:
        def op(conn: sqlite3.Connection) -> tuple[list[Row], int]:
            (total,) = conn.execute(
                "SELECT COUNT(*) FROM messages WHERE consultation_id = ?", (consultation_id,)
            ).fetchone()
            rows = _all(
                conn,
                "SELECT * FROM messages WHERE consultation_id = ? ORDER BY seq LIMIT ? OFFSET ?",
                (consultation_id, -1 if limit is None else limit, offset),
            )
            return rows, int(total)

        return await self._read_async(op)


def _one(conn: sqlite3.Connection, sql: str, params: Any) -> Row | None:
    row = conn.execute(sql, params).fetchone()
    return None if row is None else dict(row)


def _one_required(conn: sqlite3.Connection, consultation_id: str) -> Row:
    row = _one(conn, "SELECT * FROM consultations WHERE id = ?", (consultation_id,))
    assert row is not None
    return row


def _all(conn: sqlite3.Connection, sql: str, params: Any) -> list[Row]:
    return [dict(r) for r in conn.execute(sql, params).fetchall()]


def _insert_message(conn: sqlite3.Connection, consultation_id: str, message: NewMessage) -> Row:
    now = now_ns()
    row: Row = {
        "id": new_id(),
        "consultation_id": consultation_id,
        "role": message.role,
        "content": message.content,
        "tokens_used": message.tokens_used,
        "processing_time_ms": message.processing_time_ms,
        "created_at": now,
        "reply_to": message.reply_to,
    }
    conn.execute(
        "INSERT INTO messages(id, consultation_id, role, content, tokens_used, "
        "processing_time_ms, created_at, reply_to) VALUES (:id, :consultation_id, :role, "
        ":content, :tokens_used, :processing_time_ms, :created_at, :reply_to)",
        row,
    )
    (user_messages,) = conn.execute(
        "SELECT COUNT(*) FROM messages WHERE consultation_id = ? AND role = 'user'",
        (consultation_id,),
    ).fetchone()
    conn.execute(
        "UPDATE consultations SET message_count = message_count + 1, last_message_at = ?, "
        "updated_at = ?, has_context_for_goal_suggestions = CASE "
        "WHEN context_type = 'goal' OR ? >= ? THEN 1 ELSE has_context_for_goal_suggestions END "
        "WHERE id = ?",
        (now, now, user_messages, GOAL_SUGGESTION_USER_MESSAGES, consultation_id),
    )
    return row


def _add_reply_to(conn: sqlite3.Connection) -> None:
    """Give a database made before replies recorded what they answer its ``reply_to`` column."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(messages)")}
    if "reply_to" in columns:
        return
    try:
        conn.execute("ALTER TABLE messages ADD COLUMN reply_to TEXT")
    except sqlite3.OperationalError as exc:  # another process added it a moment ago
        if "duplicate column" not in str(exc):
            raise
