"""The two wire profiles of the reference server: envelopes, error shapes, timestamps, objects.

``observed`` is what production was seen to send: ``{"data": ...}``, errors as
``{"error": {"message", "code"?, "details"?}}``, null fields left out, timestamps with
nine fractional digits. ``spec`` follows the 0.34 OpenAPI document: ``{"success": true,
"data": ...}``, errors as ``{"success": false, "error": "<text>"}`` (409 keeps an object),
nulls kept, timestamps without fractions.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from starlette.responses import JSONResponse, Response

from lume_widget.text import lone_surrogate_at

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
    return _clean(
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


def goal_json(row: dict[str, Any], profile: str) -> dict[str, Any]:
    return _clean(
        {
            "id": row["id"],
            "user_id": row["user_id"],
            "title": row["title"],
            "description": row.get("description"),
            "goal_type": row.get("goal_type"),
            "current_value": row.get("current_value"),
            "target_value": row.get("target_value"),
            "target_unit": row.get("target_unit"),
            "target_date": row.get("target_date"),
            "status": row["status"],
            "created_at": format_timestamp(row["created_at"], profile),
            "updated_at": format_timestamp(row["updated_at"], profile),
        },
        profile,
    )


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


def error_body(problem: ApiProblem, profile: str) -> dict[str, Any]:
    if profile == "spec":
        # SC34 uses a bare string, except for the structured 409.
        if problem.status == 409 and problem.code:
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


def error_response(problem: ApiProblem, profile: str) -> JSONResponse:
    return SafeJSONResponse(
        error_body(problem, profile), status_code=problem.status, headers=problem.headers
    )


def ws_event(kind: str, consultation_id: str, profile: str, **fields: Any) -> dict[str, Any]:
    """A server-to-client WebSocket event; every one carries consultation_id and timestamp."""
    event: dict[str, Any] = {"type": kind, "consultation_id": consultation_id}
    event.update({k: v for k, v in fields.items() if v is not None or profile == "spec"})
    event["timestamp"] = format_timestamp(now_ns(), profile)
    return event
