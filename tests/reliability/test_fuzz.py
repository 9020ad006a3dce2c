"""Fuzzing: the client's frame parser and envelope decoder under hypothesis, the server under schemathesis.

Whatever the backend sends, decoding must never raise: frames that cannot be used are counted
and skipped, objects that cannot be used decode to None, timestamps that cannot be read decode
to None (PROTOCOL A1, B7.40). The only exceptions allowed are the documented ones of the input
validators (InvalidMessageError, InvalidPersonaError, InvalidIdError) and ``ws_origin``'s
ValueError for a URL that is not http(s).

The reference server, fed every operation of its own ``/openapi.json`` by schemathesis (valid
and invalid data, random and real ids, with valid credentials so requests get past auth),
must never answer 5xx.
"""

from __future__ import annotations

import json
import logging
import string
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from lume_widget.core import goals, wire
from lume_widget.core.frames import Pong
from lume_widget.core.models import ConsultationInfo, Goal, Message, QuickAction
from lume_widget.defaults import MAX_MESSAGE_CHARS, PERSONAS
from lume_widget.errors import (
    InvalidIdError,
    InvalidInputError,
    InvalidMessageError,
    InvalidPersonaError,
)
from lume_widget.server import ReferenceServer

logger = logging.getLogger(__name__)

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- strategies ---------------------------------------------------------------------------

FIELD_NAMES = (
    "type", "data", "success", "error", "message", "code", "details", "id", "role", "content",
    "created_at", "timestamp", "consultation_id", "tokens_used", "processing_time_ms",
    "messages", "user_message", "assistant_message", "consultation", "greeting_message",
    "persona", "status", "goal_id", "context_type", "context_id", "message_count",
    "started_at", "completed_at", "actions", "quick_actions", "title", "prompt", "icon",
    "target_value", "current_value", "target_unit", "metadata",
)  # fmt: skip

stamps = st.one_of(
    st.from_regex(
        # offsets within +-23:59; out-of-range offsets have their own test below
        r"\A\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,12})?([Zz]|[+-]([01]\d|2[0-3]):?[0-5]\d)?\Z",
        fullmatch=True,
    ),
    st.text(max_size=40),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    stamps,
    st.uuids().map(str),
)
keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=10))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(keys, children, max_size=8)
    ),
    max_leaves=12,
)


@st.composite
def message_like(draw: st.DrawFn) -> dict[str, Any]:
    """A Message object, most of the time nearly valid, with any field possibly wrong."""
    good: dict[str, Any] = {
        "id": str(draw(st.uuids())),
        "role": draw(st.sampled_from(["user", "assistant", "system", "function"])),
        "content": draw(st.text(max_size=50)),
        "created_at": draw(stamps),
        "consultation_id": str(draw(st.uuids())),
        "tokens_used": draw(st.integers(0, 10_000)),
    }
    for key in list(good):
        choice = draw(st.integers(0, 5))
        if choice == 0:
            del good[key]
        elif choice == 1:
            good[key] = draw(json_values)
    return good


known_events = st.builds(
    lambda kind, extra: {"type": kind, **extra},
    st.sampled_from(sorted(wire.KNOWN_FRAME_TYPES)),
    st.dictionaries(st.sampled_from(FIELD_NAMES[1:]), json_values, max_size=4),
)


def _is_known_event_line(line: str) -> bool:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and str(value.get("type")) in wire.KNOWN_FRAME_TYPES


def _hashable_type(value: Any) -> Any:
    """Unhashable ``type`` values have their own test; keep them out of the general ones."""
    if isinstance(value, dict) and isinstance(value.get("type"), list | dict):
        return {**value, "type": json.dumps(value["type"])}
    return value


garbage_lines = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters="\n"), max_size=40),
    json_values.map(lambda v: json.dumps(_hashable_type(v))),
    st.builds(lambda kind: json.dumps({"type": kind}), st.text(max_size=12)),
    known_events.map(lambda e: json.dumps(e)[:-1]),  # truncated mid-object
).filter(lambda line: line.strip() != "" and not _is_known_event_line(line.strip()))


# -- the frame parser -----------------------------------------------------------------------


@FUZZ
@given(st.one_of(st.text(max_size=300), st.binary(max_size=100)))
def test_parse_frames_never_raises_on_arbitrary_input(frame: str | bytes) -> None:
    batch = wire.parse_frames(frame)
    assert all(event.TYPE in wire.KNOWN_FRAME_TYPES for event in batch.events)
    if isinstance(frame, bytes):
        assert batch == wire.FrameBatch((), 1)
    else:
        lines = [line for line in frame.split("\n") if line.strip()]
        assert len(batch.events) + batch.skipped == len(lines)


@FUZZ
@given(st.lists(st.tuples(known_events, st.lists(garbage_lines, max_size=2)), max_size=8))
def test_parse_frames_keeps_every_known_event_in_order_among_garbage(
    parts: list[tuple[dict[str, Any], list[str]]],
) -> None:
    lines: list[str] = []
    for event, garbage in parts:
        lines.extend(garbage)
        lines.append(json.dumps(event))
    batch = wire.parse_frames("\n".join(lines))
    assert [e.TYPE for e in batch.events] == [e["type"] for e, _ in parts]
    assert batch.skipped == sum(len(garbage) for _, garbage in parts)


@pytest.mark.parametrize("line", ['{"type": ["stream_chunk"]}', '{"type": {"a": 1}}'])
def test_parse_frames_skips_an_unhashable_type(line: str) -> None:
    batch = wire.parse_frames(line + '\n{"type":"pong"}')
    assert batch.events == (Pong(),)
    assert batch.skipped == 1


@pytest.mark.parametrize("line", ["[" * 100_000, '{"type":"pong","x":' + "[" * 100_000 + "}"])
def test_parse_frames_skips_deeply_nested_json(line: str) -> None:
    batch = wire.parse_frames(line + '\n{"type":"pong"}')
    assert batch.events == (Pong(),)
    assert batch.skipped == 1


# -- timestamps -----------------------------------------------------------------------------


@FUZZ
@given(stamps)
def test_parse_timestamp_answers_none_or_an_aware_datetime(value: str) -> None:
    parsed = wire.parse_timestamp(value)
    assert parsed is None or (isinstance(parsed, datetime) and parsed.tzinfo is not None)


@pytest.mark.parametrize("value", ["2025-01-01T00:00:00+24:00", "2025-01-01T00:00:00.5-99:99"])
def test_parse_timestamp_answers_none_for_an_offset_out_of_range(value: str) -> None:
    assert wire.parse_timestamp(value) is None


@FUZZ
@given(
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9998, 12, 31)),
    st.integers(0, 999_999_999),
    st.integers(-(23 * 60 + 59), 23 * 60 + 59),
    st.integers(0, 9),
)
def test_parse_timestamp_reads_rfc3339_with_0_to_9_fraction_digits(
    base: datetime, nanos: int, offset_minutes: int, digits: int
) -> None:
    tz = timezone(timedelta(minutes=offset_minutes))
    fraction = f"{nanos:09d}"[:digits]
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    offset = "Z" if offset_minutes == 0 else f"{sign}{hours:02d}:{minutes:02d}"
    text = base.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if digits else "") + offset
    expected_micros = int(fraction.ljust(6, "0")[:6]) if digits else 0
    expected = base.replace(microsecond=expected_micros, tzinfo=tz)
    assert wire.parse_timestamp(text) == expected


# -- envelopes and objects --------------------------------------------------------------------


@FUZZ
@given(json_values)
def test_envelope_decoders_never_raise_on_arbitrary_json(body: Any) -> None:
    info = wire.error_info(body, "fallback text")
    assert isinstance(info.message, str)
    assert info.message
    wire.unwrap(body)
    assert wire.message_from_json(body) is None or isinstance(wire.message_from_json(body), Message)
    assert all(isinstance(m, Message) for m in wire.messages_from_json(body))
    user, reply = wire.send_answer(body)
    assert user is None or user.role == "user"
    assert reply is None or isinstance(reply, Message)
    consultation = wire.consultation_from_json(body)
    assert consultation is None or isinstance(consultation, ConsultationInfo)
    created, greeting = wire.consultation_from_create(body)
    assert created is None or isinstance(created, ConsultationInfo)
    assert all(isinstance(m, Message) for m in greeting)
    goal = goals.goal_from_json(body)
    assert goal is None or isinstance(goal, Goal)
    assert all(isinstance(g, Goal) for g in goals.goal_page_from_json(body).goals)
    goals.instance_from_json(body)
    goals.activity_from_json(body)
    assert all(isinstance(t, str) for t in goals.tips_from_json(body))
    assert all(s.title for s in goals.suggestions_from_json(body))
    assert all(isinstance(a, QuickAction) for a in wire.quick_actions_from_json(body))


@FUZZ
@given(
    st.lists(message_like(), max_size=6),
    st.sampled_from(["data", "bare", "success"]),
)
def test_history_decoding_never_raises_and_keeps_valid_messages(
    items: list[dict[str, Any]], envelope: str
) -> None:
    payload: Any = {"messages": items, "total_count": len(items)}
    if envelope == "data":
        payload = {"data": payload}
    elif envelope == "success":
        payload = {"success": True, "data": payload}
    messages = wire.messages_from_json(wire.unwrap(payload))
    valid = [
        m
        for m in items
        if isinstance(m.get("id"), str)
        and isinstance(m.get("role"), str)
        and isinstance(m.get("content"), str)
    ]
    assert [m.id for m in messages] == [m["id"].lower() for m in valid]
    assert [m.content for m in messages] == [m["content"] for m in valid]


@FUZZ
@given(
    st.one_of(st.text(max_size=60), json_values),
    st.one_of(st.none(), st.text(max_size=20), json_values),
    st.sampled_from(["string", "object", "bare"]),
)
def test_error_info_reads_both_error_shapes(message: Any, code: Any, shape: str) -> None:
    body: Any
    if shape == "string":
        body = {"success": False, "error": message, "code": code}
    elif shape == "object":
        body = {"error": {"message": message, "code": code, "details": {"k": 1}}}
    else:
        body = message
    info = wire.error_info(body, "fallback")
    if shape in ("string", "object") and isinstance(message, str) and message:
        assert info.message == message
        assert info.code == (code if isinstance(code, str) and code else None)
    assert info.message


# -- validators: only their documented errors --------------------------------------------------


def outcome(function: Any, *args: Any) -> tuple[Any, InvalidInputError | None]:
    """The result of ``function(*args)``, or the documented input error it raised."""
    try:
        return function(*args), None
    except InvalidInputError as exc:
        return None, exc


@FUZZ
@given(st.one_of(st.text(max_size=40), json_values))
def test_validate_message_raises_only_invalid_message_error(value: Any) -> None:
    trimmed, error = outcome(wire.validate_message, value)
    if error is not None:
        assert isinstance(error, InvalidMessageError)
        assert error.message
        return
    assert isinstance(trimmed, str)
    assert 1 <= len(trimmed) <= MAX_MESSAGE_CHARS
    assert trimmed == trimmed.strip()


@FUZZ
@given(st.integers(0, 5200), st.sampled_from([" ", "\t", "\n", "\u3000", ""]))
def test_validate_message_enforces_the_5000_character_limit_after_trimming(
    length: int, pad: str
) -> None:
    text = pad + "x" * length + pad
    if 1 <= length <= MAX_MESSAGE_CHARS:
        assert wire.validate_message(text) == "x" * length
    else:
        with pytest.raises(InvalidMessageError) as info:
            wire.validate_message(text)
        assert info.value.unsent_text == text


@FUZZ
@given(st.one_of(st.sampled_from(PERSONAS), st.text(max_size=20), json_values))
def test_validate_persona_raises_only_invalid_persona_error(value: Any) -> None:
    persona, error = outcome(wire.validate_persona, value)
    if error is None:
        assert persona in PERSONAS
    else:
        assert isinstance(error, InvalidPersonaError)
        assert value not in PERSONAS
        assert "general_wellness" in error.message


@FUZZ
@given(
    st.one_of(
        st.uuids().map(str),
        st.uuids().map(lambda u: str(u).upper()),
        st.text(alphabet=string.hexdigits + "-{}", max_size=40),
        json_values,
    )
)
def test_normalize_id_raises_only_invalid_id_error(value: Any) -> None:
    normalized, error = outcome(wire.normalize_id, value, "consultation")
    if error is not None:
        assert isinstance(error, InvalidIdError)
        assert "consultation" in error.message
        return
    assert normalized == normalized.lower()
    assert len(normalized) == 36


@FUZZ
@given(st.text(max_size=60))
def test_ws_origin_raises_only_value_error(url: str) -> None:
    try:
        origin = wire.ws_origin(url)
    except ValueError:
        return
    assert origin.startswith(("ws://", "wss://"))
    assert "?" not in origin


# -- the reference server under schemathesis ---------------------------------------------------


def _server_cases(
    schema: Any, mode: GenerationMode, real_ids: dict[str, str]
) -> list[tuple[str, st.SearchStrategy[Any]]]:
    """One strategy per documented operation; those with ids also get the server's real ids."""
    strategies = []
    for result in schema.get_all_operations():
        operation = result.ok()
        strategy = operation.as_strategy(generation_mode=mode)
        names = {p.name for p in operation.path_parameters}
        if names:
            fixed = {name: real_ids[name] for name in names if name in real_ids}
            strategy = st.one_of(
                strategy, operation.as_strategy(generation_mode=mode, path_parameters=fixed)
            )
        strategies.append((operation.label, strategy))
    # Deletes last, so the other operations meet real consultations and goals first.
    return sorted(strategies, key=lambda item: item[0].startswith("DELETE"))


def _fuzz_operation(
    base_url: str,
    headers: dict[str, str],
    label: str,
    strategy: st.SearchStrategy[Any],
    statuses: Counter[tuple[str, int]],
    server_errors: list[str],
) -> None:
    @settings(
        max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=strategy)
    def call(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers)
        statuses[(label, response.status_code)] += 1
        if response.status_code >= 500:
            server_errors.append(f"{case.as_curl_command()} -> {response.status_code}")

    try:
        call()
    except Unsatisfiable:
        # Nothing to make invalid (an operation without parameters or body, in negative mode).
        logger.info("schemathesis: no invalid input exists for %s", label)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_reference_server_answers_no_5xx_to_schemathesis(
    reference_server: ReferenceServer, mode: GenerationMode
) -> None:
    server = reference_server
    with httpx.Client(base_url=server.url, timeout=10) as http:
        login = http.post(
            "/api/v1/auth/login",
            json={"email": server.email, "password": server.password},
            headers={"X-API-Key": server.api_key},
        )
        token = login.json()["data"]["access_token"]
        headers = {"X-API-Key": server.api_key, "Authorization": f"Bearer {token}"}
        goal = http.post(
            "/api/v1/goals",
            json={
                "title": "Run 5k",
                "goal_type": "activity",
                "target_value": 5,
                "target_unit": "km",
                "start_date": "2025-01-01",
            },
            headers=headers,
        ).json()["data"]
        created = http.post(
            "/api/v1/consultations", json={"persona": "nutritionist"}, headers=headers
        ).json()["data"]["consultation"]
    real_ids = {"consultation_id": created["id"], "goal_id": goal["id"]}
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    statuses: Counter[tuple[str, int]] = Counter()
    server_errors: list[str] = []
    for label, strategy in _server_cases(schema, mode, real_ids):
        _fuzz_operation(server.url, headers, label, strategy, statuses, server_errors)
    summary = sorted(statuses.items())
    logger.info("schemathesis %s: %d calls, statuses %s", mode, statuses.total(), summary)
    assert server_errors == []
    assert statuses.total() >= 200
    assert any(code < 300 for (_, code) in statuses), "nothing got past validation"
