"""Decoding what the backend sends: envelopes, errors, timestamps, objects and WebSocket frames.

Liberal on purpose (PROTOCOL A1): both envelopes (``{"data"}`` with or without
``success``), errors as a string or an object, null fields missing, RFC 3339 stamps
with 0-9 fractional digits, create answers nested or flat, send answers as a Message
or ``{user_message, assistant_message}``, and text frames holding several JSON
objects separated by newlines. Frames that cannot be used are counted, never fatal.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from lume_widget.core.frames import (
    FRAME_TYPES,
    Chunk,
    Completed,
    Frame,
    FrameError,
    WholeMessage,
)
from lume_widget.core.models import ConsultationInfo, Message, QuickAction
from lume_widget.defaults import MAX_MESSAGE_CHARS, PERSONAS
from lume_widget.errors import InvalidIdError, InvalidMessageError, InvalidPersonaError
from lume_widget.text import (
    has_lone_surrogate,
    lone_surrogate_at,
    may_hold_surrogate,
    repair_json,
    repair_text,
)

__all__ = [
    "HISTORY_PAGE",
    "KNOWN_FRAME_TYPES",
    "OPEN_HISTORY",
    "ErrorInfo",
    "FrameBatch",
    "consultation_from_create",
    "consultation_from_json",
    "error_info",
    "history_page",
    "history_total",
    "looks_like_html",
    "message_from_json",
    "messages_from_json",
    "normalize_id",
    "parse_frames",
    "parse_timestamp",
    "quick_actions_from_json",
    "redact_url",
    "send_answer",
    "unwrap",
    "validate_message",
    "validate_persona",
    "ws_origin",
]

KNOWN_FRAME_TYPES = frozenset(FRAME_TYPES)

_STAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\d*"
    r"([Zz]|[+-]\d{2}:?\d{2})?$"
)


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 stamp (0-9 fractional digits, ``Z`` or an offset) as an aware datetime.

    Fractions beyond microseconds are truncated; a stamp without offset is taken as UTC.
    Anything unparseable gives None rather than an error (PROTOCOL B7.40).
    """
    if not isinstance(value, str):
        return None
    match = _STAMP.match(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micros = int(fraction[:6].ljust(6, "0")) if fraction else 0
    if offset is None or offset in ("Z", "z"):
        tz = timezone.utc
    else:
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        try:
            tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        except ValueError:  # an offset of 24 hours or more
            return None
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tz
        )
    except ValueError:  # no such date or time (2025-02-30, 25:00)
        return None


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """An error envelope decoded: the message, and ``code``/``details`` when present."""

    message: str
    code: str | None = None
    details: Mapping[str, Any] | None = None


def error_info(body: Any, fallback: str) -> ErrorInfo:
    """Decode ``{"error": "text"}``, ``{"error": {message, code?, details?}}`` or anything else."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, str) and error:
            return ErrorInfo(error, _str_or_none(body.get("code")))
        if isinstance(error, Mapping):
            message = error.get("message")
            details = error.get("details")
            return ErrorInfo(
                message if isinstance(message, str) and message else fallback,
                _str_or_none(error.get("code")),
                details if isinstance(details, Mapping) else None,
            )
        message = body.get("message")
        if isinstance(message, str) and message:
            return ErrorInfo(message, _str_or_none(body.get("code")))
    if isinstance(body, str) and body.strip():
        if looks_like_html(body):  # a proxy's or another server's page: never paste it
            return ErrorInfo(f"{fallback}; an HTML page, not a Lume backend's JSON")
        return ErrorInfo(body.strip()[:200])
    return ErrorInfo(fallback)


def looks_like_html(body: Any) -> bool:
    """Whether an answer's body is an HTML page (a proxy, a login wall, another server)."""
    if not isinstance(body, str):
        return False
    head = body.lstrip()[:512].lower()
    return head.startswith(("<!doctype", "<html", "<head", "<body", "<?xml")) or "<html" in head


def unwrap(body: Any) -> Any:
    """The payload of a success envelope: ``data`` if present, else the body itself."""
    if isinstance(body, Mapping) and "data" in body:
        return body["data"]
    return body


def message_from_json(data: Any) -> Message | None:
    """A Message from its JSON object, or None if it lacks an id, role or content."""
    if not isinstance(data, Mapping):
        return None
    message_id, role, content = data.get("id"), data.get("role"), data.get("content")
    if not isinstance(message_id, str) or not isinstance(role, str) or not isinstance(content, str):
        return None
    return Message(
        id=message_id.lower(),
        role=role,
        content=repair_text(content),
        created_at=parse_timestamp(data.get("created_at") or data.get("timestamp")),
        consultation_id=_lower_or_none(data.get("consultation_id")),
        tokens_used=_int_or_none(data.get("tokens_used")),
        processing_time_ms=_int_or_none(data.get("processing_time_ms")),
        reply_to=_lower_or_none(data.get("reply_to") or data.get("in_reply_to")),
    )


HISTORY_PAGE = 100
"""Messages asked for in one page of a history read (the most any spec allows, B2.12)."""

OPEN_HISTORY = 200
"""Messages an opened consultation reads (its newest ones, in pages from ``total - 200``):
the panel's open window; older ones are read in pages when asked for."""


def history_page(payload: Any, offset: int) -> tuple[list[Message], int | None]:
    """The messages of an answer to a history read from ``offset`` on (``limit``/``offset``,
    SW32), and where they begin in the whole history: ``offset`` when the answer shows it
    honoured the page (it echoes the offset, or its ``total_count`` says so), 0 when it is the
    whole history (a backend that ignores paging, as SC34 has none), None when it cannot tell.
    """
    messages = messages_from_json(payload)
    if offset <= 0:
        return messages, 0
    if isinstance(payload, Mapping):
        echoed = payload.get("offset")
        if isinstance(echoed, int) and not isinstance(echoed, bool) and echoed == offset:
            return messages, offset
        total = history_total(payload)
        items = payload.get("messages")
        count = len(items) if isinstance(items, list) else len(messages)
        if total is not None:
            if count == total:
                return messages, 0
            if count == total - offset:
                return messages, offset
    return messages, None


def history_total(payload: Any) -> int | None:
    """The ``total_count`` (or older ``total``) of a history answer: the messages the whole
    history holds; None when the answer does not say."""
    if not isinstance(payload, Mapping):
        return None
    total = payload.get("total_count", payload.get("total"))
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def messages_from_json(payload: Any) -> list[Message]:
    """The messages of a history answer (``{messages: [...]}`` or a bare list), oldest first."""
    items = payload.get("messages") if isinstance(payload, Mapping) else payload
    if not isinstance(items, list):
        return []
    messages = [m for m in (message_from_json(item) for item in items) if m is not None]
    return messages


def send_answer(payload: Any) -> tuple[Message | None, Message | None]:
    """The user message (and reply, if any) of a send answer: a Message or ``{user_message, ...}``."""
    if isinstance(payload, Mapping) and (
        "user_message" in payload or "assistant_message" in payload
    ):
        return message_from_json(payload.get("user_message")), message_from_json(
            payload.get("assistant_message")
        )
    message = message_from_json(payload)
    if message is not None and message.role != "user":
        return None, message
    return message, None


def consultation_from_json(data: Any) -> ConsultationInfo | None:
    """A flat Consultation object, or None if it has no id."""
    if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
        return None
    return ConsultationInfo(
        id=str(data["id"]).lower(),
        persona=str(data.get("persona") or "general_wellness"),
        status=str(data.get("status") or "active"),
        goal_id=_lower_or_none(data.get("goal_id")),
        context_type=_str_or_none(data.get("context_type")),
        context_id=_lower_or_none(data.get("context_id")),
        quick_action=_str_or_none(data.get("quick_action")),
        message_count=_int_or_none(data.get("message_count")) or 0,
        started_at=parse_timestamp(data.get("started_at")),
        created_at=parse_timestamp(data.get("created_at")),
        completed_at=parse_timestamp(data.get("completed_at")),
        last_message_at=parse_timestamp(data.get("last_message_at")),
        has_context_for_goal_suggestions=bool(data.get("has_context_for_goal_suggestions")),
    )


def consultation_from_create(payload: Any) -> tuple[ConsultationInfo | None, list[Message]]:
    """A create answer, nested (``{consultation, greeting_message?}``) or flat, with any greeting.

    The greeting may be ``greeting_message`` or inside ``consultation.messages[]``.
    """
    if not isinstance(payload, Mapping):
        return None, []
    nested = payload.get("consultation")
    body = nested if isinstance(nested, Mapping) else payload
    info = consultation_from_json(body)
    messages = messages_from_json(body.get("messages") or [])
    greeting = message_from_json(payload.get("greeting_message"))
    if greeting is not None and all(m.id != greeting.id for m in messages):
        messages.append(greeting)
    return info, messages


def quick_actions_from_json(payload: Any) -> list[QuickAction]:
    """Quick actions from ``{actions: [...]}``, ``{quick_actions: [...]}`` or a bare list."""
    items: Any = payload
    if isinstance(payload, Mapping):
        items = payload.get("actions", payload.get("quick_actions"))
    if not isinstance(items, list):
        return []
    actions = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        prompt = str(item.get("prompt") or "")
        title = str(item.get("title") or item.get("description") or prompt)
        known = {"id", "title", "prompt", "icon", "context_type", "persona"}
        actions.append(
            QuickAction(
                id=str(item.get("id") or title),
                title=title,
                prompt=prompt,
                icon=_str_or_none(item.get("icon")),
                context_type=_str_or_none(item.get("context_type")),
                persona=_str_or_none(item.get("persona")),
                extra={k: v for k, v in item.items() if k not in known},
            )
        )
    return actions


@dataclass(frozen=True, slots=True)
class FrameBatch:
    """The usable events of one WebSocket frame and how many parts were skipped."""

    events: tuple[Frame, ...]
    skipped: int


def parse_frames(frame: str | bytes) -> FrameBatch:
    """Split a text frame on newlines into JSON events of known types.

    Binary frames, invalid JSON, non-objects and unknown ``type``s are skipped and counted.
    """
    if isinstance(frame, bytes | bytearray | memoryview):
        return FrameBatch((), 1)
    events: list[Frame] = []
    skipped = 0
    for line in frame.split("\n") if "\n" in frame else (frame,):
        line = line.strip()
        if not line:
            continue
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            skipped += 1
            continue
        kind = event.get("type") if isinstance(event, dict) else None
        if isinstance(kind, str) and kind in KNOWN_FRAME_TYPES:
            if may_hold_surrogate(line):
                event = _repaired_event(event)
            events.append(_frame_event(kind, event))
        else:
            skipped += 1
    return FrameBatch(tuple(events), skipped)


def _frame_event(kind: str, event: Mapping[str, Any]) -> Frame:
    """The typed event of one decoded JSON object of a known ``type``."""
    owner = event.get("consultation_id")
    stamp = event.get("timestamp")
    stamp = stamp if isinstance(stamp, str) else None  # parsed when compared, if ever
    if kind == "stream_chunk":  # most frames are chunks: built without the common dict
        content = event.get("content")
        return Chunk(
            owner.lower() if isinstance(owner, str) else None,
            stamp,
            content if isinstance(content, str) else None,
        )
    common: dict[str, Any] = {"consultation_id": _lower_or_none(owner), "stamp": stamp}
    if kind == "stream_complete":
        metadata = event.get("metadata")
        return Completed(
            **common,
            metadata=dict(metadata) if isinstance(metadata, Mapping) else {},
            message=message_from_json(event.get("message")),
        )
    if kind == "message":
        return WholeMessage(**common, message=message_from_json(event.get("message")))
    if kind == "error":
        error = event.get("error")
        if isinstance(error, Mapping):  # an error object, as REST bodies have
            error = error.get("message")
        return FrameError(**common, error=_str_or_none(error), code=_str_or_none(event.get("code")))
    return FRAME_TYPES[kind](**common)


def _repaired_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its strings made valid Unicode, except a chunk's ``content``: half of a
    character at its end is joined with the next chunk's first half by the session."""
    if not has_lone_surrogate(event):
        return event
    content = event.get("content") if event.get("type") == "stream_chunk" else None
    repaired: dict[str, Any] = repair_json(event)
    if isinstance(content, str):
        repaired["content"] = content
    return repaired


def validate_message(text: Any) -> str:
    """The message trimmed, or InvalidMessageError if it is empty, over 5000 characters, or
    not valid Unicode (a lone UTF-16 surrogate: half of a character)."""
    if not isinstance(text, str):
        raise InvalidMessageError(
            f"A message must be text, not {type(text).__name__}; pass a string."
        )
    broken = lone_surrogate_at(text)
    if broken is not None:
        raise InvalidMessageError(
            f"The message is not valid Unicode: character {broken + 1} is half of a character "
            f"(the lone UTF-16 surrogate U+{ord(text[broken]):04X}), as when an emoji is cut in "
            "two. Retype or paste that character again.",
            unsent_text=repair_text(text),
        )
    trimmed = text.strip()
    if not trimmed:
        raise InvalidMessageError(
            "The message is empty; type something before sending.", unsent_text=text
        )
    if len(trimmed) > MAX_MESSAGE_CHARS:
        raise InvalidMessageError(
            f"The message has {len(trimmed)} characters; the backend accepts at most "
            f"{MAX_MESSAGE_CHARS}. Shorten it or split it into several messages.",
            unsent_text=text,
        )
    return trimmed


def unknown_persona(persona: Any) -> str:
    """The one wording, everywhere, for a persona the backend does not have."""
    return f"Unknown persona {persona!r}; choose one of {', '.join(PERSONAS)}."


def validate_persona(persona: Any) -> str:
    """The persona, or InvalidPersonaError naming the four the backend accepts."""
    if persona not in PERSONAS:
        raise InvalidPersonaError(unknown_persona(persona))
    return str(persona)


def normalize_id(value: Any, what: str) -> str:
    """A UUID id lower-cased for URLs (PROTOCOL B7.22), or InvalidIdError."""
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value.strip())).lower()
        except ValueError:
            pass
    raise InvalidIdError(
        f"{what} id {value!r} is not a UUID; use the id the server returned "
        f"(e.g. from list_consultations() or list_goals())."
    )


def ws_origin(http_url: str) -> str:
    """The bare WebSocket origin for an http(s) base URL: scheme swapped, path dropped (B7.1)."""
    parts = urlsplit(http_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {redact_url(http_url)}")
    return urlunsplit((scheme, parts.netloc, "", "", ""))


_SECRET_QUERY_KEYS = frozenset({"token", "access_token", "api_key", "apikey", "key", "password"})


def redact_url(url: str) -> str:
    """The URL with secret query values (``token=`` and friends) and userinfo replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in pairs], safe="*"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _lower_or_none(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and value != "" else None


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
