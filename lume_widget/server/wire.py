"""The two wire profiles of the reference server: envelopes, error shapes, timestamps, objects.

``observed`` is what production was seen to send: ``{"data": ...}``, errors as
``{"error": {"message", "code"?, "details"?}}``, null fields left out, timestamps with
nine fractional digits. ``spec`` follows the 0.34 OpenAPI document: ``{"success": true,
"data": ...}``, errors as ``{"success": false, "error": "<text>"}`` (409 keeps an object),
nulls kept, timestamps without fractions. The goals routes follow GOALS34 in the spec
profile: errors there are ``{"success": false, "data": null, "error": {"message"}}``.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import date, datetime, timezone
from typing import Any

from starlette.responses import JSONResponse, Response

from lume_widget.text import lone_surrogate_at

GOALS_PATH = "/api/v1/goals"

_UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


def new_id() -> str:
    """A fresh lower-case UUID, the only id form the server emits."""
    return str(uuid.uuid4())


def parse_id(raw: str) -> str | None:
    """The canonical (lower-case) form of a UUID in a path, or None if it is not one.

    Upper-case ids are accepted because the iOS REST client sends them that way.
    """
    if not _UUID_RE.match(raw):
        return None
    return raw.lower()


def now_ns() -> int:
    return time.time_ns()


def format_timestamp(ns: int, profile: str) -> str:
    """RFC 3339 UTC: nanoseconds in the observed profile, whole seconds in the spec profile."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if profile == "observed":
        return f"{base}.{fraction:09d}Z"
    return f"{base}Z"


def _clean(obj: dict[str, Any], profile: str) -> dict[str, Any]:
    if profile == "observed":
        return {k: v for k, v in obj.items() if v is not None}
    return obj


def message_json(row: dict[str, Any], profile: str) -> dict[str, Any]:
    """A Message object (PROTOCOL B2.11) from a stored row."""
    message = _clean(
        {
            "id": row["id"],
            "consultation_id": row["consultation_id"],
            "role": row["role"],
            "content": row["content"],
            "function_name": None,
            "function_args": None,
            "tokens_used": row.get("tokens_used"),
            "processing_time_ms": row.get("processing_time_ms"),
            "created_at": format_timestamp(row["created_at"], profile),
        },
        profile,
    )
    if row.get("reply_to"):  # which user message a reply answers (absent for a greeting)
        message["reply_to"] = row["reply_to"]
    return message


def consultation_json(row: dict[str, Any], profile: str) -> dict[str, Any]:
    """A Consultation object (PROTOCOL B2.11) from a stored row."""

    def ts(key: str) -> str | None:
        value = row.get(key)
        return None if value is None else format_timestamp(int(value), profile)

    return _clean(
        {
            "id": row["id"],
            "user_id": row["user_id"],
            "persona": row["persona"],
            "status": row["status"],
            "goal_id": row.get("goal_id"),
            "started_at": ts("started_at"),
            "completed_at": ts("completed_at"),
            "last_message_at": ts("last_message_at"),
            "message_count": row["message_count"],
            "context_type": row.get("context_type"),
            "context_id": row.get("context_id"),
            "quick_action": row.get("quick_action"),
            "created_at": ts("created_at"),
            "updated_at": ts("updated_at"),
            "has_context_for_goal_suggestions": bool(row["has_context_for_goal_suggestions"]),
        },
        profile,
    )


def goal_json(
    row: dict[str, Any], profile: str, today: date, statistics: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A Goal object (PROTOCOL B9.5) from a stored row, as of the calendar day ``today``.

    ``progress`` is ``current_value / target_value`` from 0 to 1 (GAC), ``days_remaining``
    counts to ``target_date`` (-1 for a recurring goal without one, FITIQ32). Dates are
    ``YYYY-MM-DD`` in the observed profile (as production sent them) and date-times in
    the spec profile (GOALS34). In the observed profile a goal without a description
    carries ``""``, since the iOS decoder cannot read a goal without one (B9.7).
    """
    target_date = _date_or_none(row.get("target_date"))
    target = float(row.get("target_value") or 0.0)
    current = float(row.get("current_value") or 0.0)
    progress = min(1.0, max(0.0, current / target)) if target > 0 else 0.0
    days_remaining: int | None = None
    if target_date is not None:
        days_remaining = (target_date - today).days
    elif row.get("is_recurring"):
        days_remaining = -1
    completed_at = row.get("completed_at")
    body: dict[str, Any] = {
        "id": row["id"],
        "user_id": row["user_id"],
        "goal_type": row.get("goal_type"),
        "title": row["title"],
        "description": row.get("description"),
        "target_value": target,
        "target_unit": row.get("target_unit") or "",
        "current_value": current,
        "progress": round(progress, 4),
        "start_date": _goal_date(row.get("start_date"), profile),
        "target_date": _goal_date(row.get("target_date"), profile),
        "status": row["status"],
        "is_recurring": bool(row.get("is_recurring")),
        "recurrence_pattern": row.get("recurrence_pattern"),
        "recurrence_days": row.get("recurrence_days"),
        "recurrence_end_date": _goal_date(row.get("recurrence_end_date"), profile),
        "is_overdue": bool(
            row["status"] == "active" and target_date is not None and target_date < today
        ),
        "days_remaining": days_remaining,
        "completed_at": None if completed_at is None else format_timestamp(completed_at, profile),
        "created_at": format_timestamp(row["created_at"], profile),
        "updated_at": format_timestamp(row["updated_at"], profile),
    }
    if statistics is not None:
        body["statistics"] = statistics
    if profile == "observed" and body["description"] is None:
        body["description"] = ""
    return _clean(body, profile)


def _date_or_none(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _goal_date(value: Any, profile: str) -> str | None:
    day = _date_or_none(value)
    if day is None:
        return None
    return day.isoformat() if profile == "observed" else f"{day.isoformat()}T00:00:00Z"


def today_utc() -> date:
    """The server's calendar day (UTC), for days_remaining and overdue goals."""
    return datetime.now(timezone.utc).date()


def dump_json(value: Any) -> str:
    """JSON text that is always valid UTF-8: a lone surrogate in a string is written as its
    ``\\uXXXX`` escape (the client joins or repairs it), never as an unencodable character."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    if lone_surrogate_at(text) is not None:
        text = json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text


class SafeJSONResponse(JSONResponse):
    """A JSON answer whose body encodes whatever strings it holds (see :func:`dump_json`)."""

    def render(self, content: Any) -> bytes:
        return dump_json(content).encode("utf-8")


def success(data: Any, profile: str, status: int = 200) -> JSONResponse:
    body: dict[str, Any] = {"data": data}
    if profile == "spec":
        body = {"success": True, "data": data}
    return SafeJSONResponse(body, status_code=status)


def no_content() -> Response:
    return Response(status_code=204)


class ApiProblem(Exception):
    """An error answer: raised anywhere in a handler, rendered in the active profile's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.details = details
        self.headers = headers or {}


def error_body(problem: ApiProblem, profile: str, path: str = "") -> dict[str, Any]:
    """The error object for ``problem`` on ``path`` in ``profile``.

    Spec profile: SC34's ``{"success": false, "error": "<text>"}``, but the deprecated
    409 CONSULTATION_EXISTS keeps SC34's object, and every goals route answers GOALS34's
    ErrorResponse ``{"success": false, "data": null, "error": {"message"}}``.
    """
    if profile == "spec":
        if path == GOALS_PATH or path.startswith(GOALS_PATH + "/"):
            return {"success": False, "data": None, "error": {"message": problem.message}}
        if problem.status == 409 and problem.code == "CONSULTATION_EXISTS":
            return {
                "success": False,
                "error": _clean(
                    {"code": problem.code, "message": problem.message, "details": problem.details},
                    "observed",
                ),
            }
        return {"success": False, "error": problem.message}
    return {
        "error": _clean(
            {"message": problem.message, "code": problem.code, "details": problem.details},
            "observed",
        )
    }


def error_response(problem: ApiProblem, profile: str, path: str = "") -> JSONResponse:
    return SafeJSONResponse(
        error_body(problem, profile, path), status_code=problem.status, headers=problem.headers
    )


def ws_event(kind: str, consultation_id: str, profile: str, **fields: Any) -> dict[str, Any]:
    """A server-to-client WebSocket event; every one carries consultation_id and timestamp."""
    event: dict[str, Any] = {"type": kind, "consultation_id": consultation_id}
    event.update({k: v for k, v in fields.items() if v is not None or profile == "spec"})
    event["timestamp"] = format_timestamp(now_ns(), profile)
    return event
