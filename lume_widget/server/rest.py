"""REST handlers of the reference server: auth, quick actions, consultations, messages (goals: goals.py).

Every handler answers in the active profile's shape (``wire.py``) and raises
``ApiProblem`` for errors, which the app renders. Validation happens before anything is
written, and each write is one transaction, so an error never leaves half a change.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import date, datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from lume_widget.defaults import MAX_MESSAGE_CHARS, PERSONAS
from lume_widget.server.auth import Principal
from lume_widget.server.quick_actions import CONTEXT_TYPES, find_quick_action, quick_actions
from lume_widget.server.responders import GoalInfo
from lume_widget.server.state import ServerState, estimate_tokens
from lume_widget.server.store import NewMessage, StoreError
from lume_widget.server.wire import (
    ApiProblem,
    consultation_json,
    format_timestamp,
    message_json,
    no_content,
    parse_id,
    success,
)
from lume_widget.text import has_lone_surrogate

logger = logging.getLogger(__name__)

STATUSES = ("pending", "pending_approval", "active", "completed", "abandoned", "archived")
MIN_AGE_YEARS = 13


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.lume
    return state


async def read_json(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; 413 past the size limit, 400 when not an object."""
    limit = _state(request).config.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for part in request.stream():
        body.extend(part)
        if len(body) > limit:
            raise _too_large(limit)
    if not body.strip():
        raise ApiProblem(
            400, "request body is required: send a JSON object", code="VALIDATION_ERROR"
        )
    try:
        value = json.loads(bytes(body))
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise ApiProblem(400, "request body is not valid JSON", code="VALIDATION_ERROR") from None
    if not isinstance(value, dict):
        raise ApiProblem(400, "request body must be a JSON object", code="VALIDATION_ERROR")
    if has_lone_surrogate(value):
        raise _not_unicode("request body")
    return value


def _not_unicode(what: str) -> ApiProblem:
    return ApiProblem(
        400,
        f"{what} is not valid Unicode: it holds a lone UTF-16 surrogate (half of a character); "
        "send the whole character",
        code="VALIDATION_ERROR",
    )


async def discard_body(request: Request) -> None:
    """Read and drop the body of a route that takes none; 413 past the size limit all the same."""
    limit = _state(request).config.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise _too_large(limit)


def _too_large(limit: int) -> ApiProblem:
    return ApiProblem(
        413, f"request body too large: the limit is {limit} bytes", code="PAYLOAD_TOO_LARGE"
    )


def _principal(request: Request) -> Principal:
    return _state(request).principal(
        request.headers.get("x-api-key"), request.headers.get("authorization")
    )


def _path_id(request: Request, name: str, what: str) -> str:
    raw = str(request.path_params[name])
    parsed = parse_id(raw)
    if parsed is None:
        raise ApiProblem(400, f"invalid {what} ID: expected a UUID", code="INVALID_ID")
    return parsed


def _optional_str(body: dict[str, Any], key: str, max_len: int = 1000) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise ApiProblem(
            400, f"{key} must be a string of at most {max_len} characters", code="VALIDATION_ERROR"
        )
    return value


def _optional_number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ApiProblem(400, f"{key} must be a number", code="VALIDATION_ERROR")
    if abs(value) > 1e12:
        raise ApiProblem(400, f"{key} is out of range", code="VALIDATION_ERROR")
    return float(value)


def validate_content(value: Any, field: str = "content") -> str:
    """Message content: a string of 1..5000 characters after trimming (stored trimmed)."""
    if not isinstance(value, str):
        raise ApiProblem(400, f"{field} is required and must be a string", code="VALIDATION_ERROR")
    if has_lone_surrogate(value):
        raise _not_unicode(field)
    text = value.strip()
    if not 1 <= len(text) <= MAX_MESSAGE_CHARS:
        raise ApiProblem(
            400,
            f"{field} must be 1 to {MAX_MESSAGE_CHARS} characters after trimming (got {len(text)})",
            code="VALIDATION_ERROR",
        )
    return text


def _query_int(
    request: Request, key: str, default: int | None, low: int, high: int | None
) -> int | None:
    """An integer query parameter from ``low`` to ``high`` (None: no upper bound, as for offset)."""
    raw = request.query_params.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"of {low} or more"
        raise ApiProblem(
            400, f"invalid {key} parameter: expected an integer {bound}", code="VALIDATION_ERROR"
        )
    return value


# SQLite's OFFSET is a signed 64-bit integer; any offset past the end gives an empty page.
OFFSET_CEILING = 2**62


# -- auth -------------------------------------------------------------------------------


async def register(request: Request) -> Response:
    state = _state(request)
    state.auth.check_api_key(request.headers.get("x-api-key"))
    body = await read_json(request)
    email = body.get("email")
    password = body.get("password")
    if not isinstance(email, str) or "@" not in email or len(email) > 254:
        raise ApiProblem(400, "a valid email address is required", code="VALIDATION_ERROR")
    if not isinstance(password, str) or not 8 <= len(password) <= 256:
        raise ApiProblem(400, "password must be 8 to 256 characters long", code="VALIDATION_ERROR")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ApiProblem(400, "name is required", code="VALIDATION_ERROR")
    name = name.strip()
    dob = _parse_birth_date(body.get("date_of_birth"))
    password_hash = await state.auth.hash_password(password)
    try:
        user = await state.store.create_user(email.strip(), password_hash, name, dob.isoformat())
    except StoreError:
        raise ApiProblem(
            409, "an account with this email already exists: log in instead", code="EMAIL_EXISTS"
        ) from None
    pair = await state.auth.issue_pair(user["id"], user["email"])
    data = {
        "user_id": user["id"],
        "email": user["email"],
        "name": name,
        "created_at": format_timestamp(user["created_at"], state.profile),
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
    }
    if state.profile == "observed":
        data = {k: v for k, v in data.items() if v is not None}
    return success(data, state.profile, 201)


def _parse_birth_date(value: Any) -> date:
    if value is None:
        raise ApiProblem(
            400,
            "date_of_birth is required (YYYY-MM-DD): users must be 13 or older",
            code="VALIDATION_ERROR",
        )
    if not isinstance(value, str):
        raise ApiProblem(400, "date_of_birth must be YYYY-MM-DD", code="VALIDATION_ERROR")
    try:
        born = (
            datetime.fromisoformat(value.replace("Z", "+00:00")).date()
            if "T" in value
            else date.fromisoformat(value)
        )
    except ValueError:
        raise ApiProblem(
            400, "date_of_birth must be YYYY-MM-DD (or RFC 3339)", code="VALIDATION_ERROR"
        ) from None
    today = datetime.now(timezone.utc).date()
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if age < MIN_AGE_YEARS:
        raise ApiProblem(400, "users must be at least 13 years old", code="VALIDATION_ERROR")
    return born


async def login(request: Request) -> Response:
    state = _state(request)
    state.auth.check_api_key(request.headers.get("x-api-key"))
    body = await read_json(request)
    email, password = body.get("email"), body.get("password")
    if not isinstance(email, str) or not isinstance(password, str):
        raise ApiProblem(400, "email and password are required", code="VALIDATION_ERROR")
    user = await state.store.user_by_email(email.strip())
    if user is None or not await state.auth.verify_password(password, user["password_hash"]):
        raise ApiProblem(401, "invalid email or password", code="INVALID_CREDENTIALS")
    pair = await state.auth.issue_pair(user["id"], user["email"])
    return success(
        {"access_token": pair.access_token, "refresh_token": pair.refresh_token}, state.profile
    )


async def refresh(request: Request) -> Response:
    state = _state(request)
    pair = await state.auth.rotate(await _refresh_token_of(request, state))
    return success(
        {"access_token": pair.access_token, "refresh_token": pair.refresh_token}, state.profile
    )


async def _refresh_token_of(request: Request, state: ServerState) -> str:
    """The ``refresh_token`` of a refresh or logout body, after the API key is checked."""
    state.auth.check_api_key(request.headers.get("x-api-key"))
    body = await read_json(request)
    token = body.get("refresh_token")
    if not isinstance(token, str) or not token:
        raise ApiProblem(400, "refresh_token is required", code="VALIDATION_ERROR")
    return token


async def logout(request: Request) -> Response:
    state = _state(request)
    await state.auth.revoke(await _refresh_token_of(request, state))
    return no_content()


# -- consultations ----------------------------------------------------------------------


async def list_quick_actions(request: Request) -> Response:
    state = _state(request)
    _principal(request)
    persona = request.query_params.get("persona")
    context_type = request.query_params.get("context_type")
    if persona is not None and persona not in PERSONAS:
        raise ApiProblem(400, "Invalid persona", code="INVALID_PERSONA")
    if context_type is not None and context_type not in CONTEXT_TYPES:
        raise ApiProblem(400, "Invalid context_type parameter", code="VALIDATION_ERROR")
    actions = quick_actions(persona=persona, context_type=context_type)
    return success({"actions": actions}, state.profile)


async def create_consultation(request: Request) -> Response:
    state = _state(request)
    principal = _principal(request)
    body = await read_json(request)
    persona = body.get("persona")
    if not isinstance(persona, str) or persona not in PERSONAS:
        raise ApiProblem(
            400,
            "Invalid persona",
            code="INVALID_PERSONA",
            details={"allowed": list(PERSONAS)},
        )
    context_type = _optional_str(body, "context_type", 40)
    if context_type is not None and context_type not in CONTEXT_TYPES:
        raise ApiProblem(
            400,
            f"invalid context_type: expected one of {', '.join(CONTEXT_TYPES)}",
            code="VALIDATION_ERROR",
        )
    context_id = _optional_str(body, "context_id", 200)
    legacy_goal_id = _optional_str(body, "goal_id", 200)
    quick_action = _optional_str(body, "quick_action", 100)
    initial = body.get("initial_message")
    initial_text = None if initial is None else validate_content(initial, "initial_message")

    fields: dict[str, Any] = {
        "user_id": principal.user_id,
        "persona": persona,
        "context_type": context_type,
        "context_id": context_id,
        "quick_action": quick_action,
    }
    goal: GoalInfo | None = None
    # The goal comes from context_id (current clients) or goal_id (the older field).
    goal_ref = (context_id if context_type == "goal" else None) or legacy_goal_id
    if context_type == "goal" and not goal_ref:
        raise ApiProblem(
            400,
            "context_id (the goal's id) is required when context_type is goal",
            code="VALIDATION_ERROR",
        )
    if goal_ref is not None:
        goal_id = parse_id(goal_ref)
        goal_row = await state.store.goals.get(goal_id) if goal_id else None
        if goal_row is None or goal_row["user_id"] != principal.user_id:
            raise ApiProblem(404, "goal not found", code="GOAL_NOT_FOUND")
        goal = GoalInfo.from_row(goal_row)
        fields.update(
            goal_id=goal.id,
            context_type="goal",
            context_id=goal.id,
            goal_snapshot=json.dumps(goal.__dict__),
        )

    first: list[NewMessage] = []
    needs_reply = False
    action = find_quick_action(quick_action) if quick_action else None
    if initial_text is not None:
        first.append(NewMessage("user", initial_text))
        needs_reply = True
    elif action is not None:
        first.append(NewMessage("user", str(action["prompt"])))
        needs_reply = True
    else:
        started = time.monotonic()
        greeting = state.responder.greeting(persona, goal)
        elapsed = max(1, int((time.monotonic() - started) * 1000))
        first.append(NewMessage("assistant", greeting, estimate_tokens(greeting), elapsed))

    try:
        row, messages = await state.store.create_consultation(
            fields,
            first,
            max_active=state.config.max_active_consultations,
            conflict_on_duplicate=state.config.conflict_on_duplicate,
        )
    except StoreError as exc:
        if exc.kind == "too_many":
            raise ApiProblem(
                429,
                "too many active consultations: please complete some before creating new ones",
                code="TOO_MANY_ACTIVE_CONSULTATIONS",
                details={"max_active": state.config.max_active_consultations},
            ) from None
        existing = exc.row or {}
        raise ApiProblem(
            409,
            "already have an active consultation for this persona",
            code="CONSULTATION_EXISTS",
            details={
                k: v
                for k, v in {
                    "existing_consultation_id": existing.get("id"),
                    "persona": existing.get("persona"),
                    "status": existing.get("status"),
                    "goal_id": existing.get("goal_id"),
                    "can_continue": True,
                }.items()
                if v is not None
            },
        ) from None
    if needs_reply:
        state.reply_in_background(row, messages[0]["id"])
    consultation = consultation_json(row, state.profile)
    greeting_message = (
        message_json(messages[0], state.profile)
        if messages and messages[0]["role"] == "assistant"
        else None
    )
    if greeting_message is not None and goal is not None and state.profile == "observed":
        # Production returned the goal greeting inside consultation.messages[] as well
        # (PROTOCOL B6.4): clients must take it from either place without showing it twice.
        consultation["messages"] = [greeting_message]
    data: dict[str, Any] = {"consultation": consultation, "needs_survey": False}
    if greeting_message is not None or state.profile == "spec":
        data["greeting_message"] = greeting_message
    return success(data, state.profile, 201)


async def list_consultations(request: Request) -> Response:
    state = _state(request)
    principal = _principal(request)
    status = request.query_params.get("status", "active")
    if status not in STATUSES:
        raise ApiProblem(400, "invalid status parameter", code="VALIDATION_ERROR")
    persona = request.query_params.get("persona")
    if persona is not None and persona not in PERSONAS:
        raise ApiProblem(400, "Invalid persona", code="INVALID_PERSONA")
    limit = _query_int(request, "limit", 20, 1, 100) or 20
    offset = _query_int(request, "offset", 0, 0, None) or 0
    rows, total = await state.store.list_consultations(
        principal.user_id, status, persona, limit, min(offset, OFFSET_CEILING)
    )
    data = {
        "consultations": [consultation_json(r, state.profile) for r in rows],
        "total_count": total,
        "limit": limit,
        "offset": offset,
    }
    return success(data, state.profile)


async def _owned(request: Request) -> tuple[ServerState, dict[str, Any]]:
    state = _state(request)
    principal = _principal(request)
    consultation_id = _path_id(request, "consultation_id", "consultation")
    row = await state.owned_consultation(consultation_id, principal)
    return state, row


async def get_consultation(request: Request) -> Response:
    state, row = await _owned(request)
    return success(consultation_json(row, state.profile), state.profile)


async def delete_consultation(request: Request) -> Response:
    state, row = await _owned(request)
    await state.store.delete_consultation(row["id"])
    await state.close_sockets(row["id"], "consultation deleted")
    return no_content()


async def complete_consultation(request: Request) -> Response:
    state, row = await _owned(request)
    await discard_body(request)
    try:
        completed = await state.store.complete_consultation(row["id"])
    except StoreError:
        raise ApiProblem(
            400,
            f"invalid status transition: only active consultations can be completed "
            f"(this one is {row['status']})",
            code="INVALID_STATUS_TRANSITION",
        ) from None
    await state.close_sockets(row["id"], "consultation completed")
    return success(consultation_json(completed, state.profile), state.profile)


def _check_legacy(request: Request) -> None:
    if (
        request.url.path.startswith("/api/v1/wellness/")
        and _state(request).faults.current.legacy_down
    ):
        raise ApiProblem(
            503,
            "the legacy chat channel is unavailable (fault injection)",
            code="SERVICE_UNAVAILABLE",
            headers={"Retry-After": "3"},
        )


async def list_messages(request: Request) -> Response:
    _check_legacy(request)
    state, row = await _owned(request)
    limit = _query_int(request, "limit", None, 1, 100)
    offset = _query_int(request, "offset", 0, 0, None) or 0
    state.check_stored(row["id"])
    rows, total = await state.store.messages(row["id"], limit, min(offset, OFFSET_CEILING))
    data: dict[str, Any] = {
        "messages": [message_json(m, state.profile) for m in rows],
        "total_count": total,
    }
    if limit is not None or offset:
        data.update(limit=limit, offset=offset)
    return success(data, state.profile)


async def send_message(request: Request) -> Response:
    _check_legacy(request)
    state, row = await _owned(request)
    body = await read_json(request)
    content = validate_content(body.get("content"))
    message = await state.add_user_message(row["id"], content)
    state.reply_in_background(row, message["id"])
    payload = message_json(message, state.profile)
    if state.profile == "spec":
        return success(payload, state.profile, 202)
    return success({"user_message": payload}, state.profile, 201)
