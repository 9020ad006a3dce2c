"""Decoding of envelopes, errors, timestamps, objects and frames, liberal as PROTOCOL A1 asks."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest

from lume_widget.core.errors_map import error_for_status
from lume_widget.core.wire import (
    consultation_from_create,
    consultation_from_json,
    error_info,
    message_from_json,
    messages_from_json,
    normalize_id,
    parse_frames,
    parse_timestamp,
    quick_actions_from_json,
    redact_url,
    send_answer,
    unwrap,
    validate_message,
    validate_persona,
    ws_origin,
)
from lume_widget.errors import (
    ApiError,
    AuthenticationError,
    ConnectionFailedError,
    ConsultationNotActiveError,
    InvalidIdError,
    InvalidInputError,
    InvalidMessageError,
    InvalidPersonaError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TooManyConsultationsError,
)

MSG = {"id": "A1", "role": "user", "content": "hi", "created_at": "2025-11-19T14:03:58Z"}


@pytest.mark.parametrize(
    ("stamp", "micro", "offset"),
    [
        ("2025-11-19T14:03:58Z", 0, timedelta(0)),
        ("2025-11-19T14:03:58.1Z", 100000, timedelta(0)),
        ("2025-11-19T14:03:58.151465961Z", 151465, timedelta(0)),
        ("2025-11-19T14:03:58.123456789123z", 123456, timedelta(0)),
        ("2025-11-19T14:03:58+02:00", 0, timedelta(hours=2)),
        ("2025-11-19T14:03:58.5-0530", 500000, -timedelta(hours=5, minutes=30)),
        ("2025-11-19 14:03:58", 0, timedelta(0)),
    ],
)
def test_wire_timestamps_accept_0_to_9_fraction_digits_and_offsets(
    stamp: str, micro: int, offset: timedelta
) -> None:
    parsed = parse_timestamp(stamp)
    assert parsed is not None
    assert parsed.microsecond == micro
    assert parsed.utcoffset() == offset


@pytest.mark.parametrize("bad", [None, 5, "yesterday", "2025-13-40T99:00:00Z", ""])
def test_wire_unreadable_timestamps_are_none(bad: object) -> None:
    assert parse_timestamp(bad) is None


def test_wire_envelopes_and_error_shapes() -> None:
    assert unwrap({"data": {"x": 1}}) == {"x": 1}
    assert unwrap({"success": True, "data": [1]}) == [1]
    assert unwrap([1]) == [1]
    assert error_info({"error": "Invalid persona"}, "f").message == "Invalid persona"
    info = error_info(
        {"error": {"message": "exists", "code": "CONSULTATION_EXISTS", "details": {"a": 1}}}, "f"
    )
    assert (info.message, info.code, info.details) == ("exists", "CONSULTATION_EXISTS", {"a": 1})
    assert error_info({"error": {"code": "X"}}, "fallback").message == "fallback"
    assert error_info({"message": "plain", "code": "C"}, "f").code == "C"
    assert error_info("unauthorized", "f").message == "unauthorized"
    assert error_info(None, "fallback").message == "fallback"


def test_wire_messages_tolerate_missing_fields_and_lower_case_ids() -> None:
    message = message_from_json({**MSG, "consultation_id": "ABC", "tokens_used": 5.0})
    assert message is not None
    assert (message.id, message.consultation_id, message.tokens_used) == ("a1", "abc", 5)
    assert message_from_json({"id": "x", "role": "user"}) is None
    assert message_from_json("nope") is None
    assert message_from_json({**MSG, "tokens_used": True}).tokens_used is None  # type: ignore[union-attr]
    assert message_from_json({**MSG, "tokens_used": 1.5}).tokens_used is None  # type: ignore[union-attr]
    assert [m.id for m in messages_from_json({"messages": [MSG, {"bad": 1}]})] == ["a1"]
    assert messages_from_json([MSG])[0].content == "hi"
    assert messages_from_json({"messages": None}) == []
    assert message.to_dict()["created_at"].startswith("2025-11-19T14:03:58")


def test_wire_send_answers_in_every_shape() -> None:
    reply = {"id": "b", "role": "assistant", "content": "r"}
    assert send_answer({"user_message": MSG})[0].id == "a1"  # type: ignore[union-attr]
    user, assistant = send_answer({"user_message": MSG, "assistant_message": reply})
    assert (user.id, assistant.id) == ("a1", "b")  # type: ignore[union-attr]
    assert send_answer(MSG) == (message_from_json(MSG), None)
    assert send_answer(reply) == (None, message_from_json(reply))
    assert send_answer(None) == (None, None)


def test_wire_consultations_nested_flat_and_greetings() -> None:
    flat = {
        "id": "C1",
        "persona": "nutritionist",
        "status": "active",
        "context_type": "goal",
        "context_id": "G1",
        "message_count": 1,
        "started_at": "2025-01-01T00:00:00Z",
    }
    info = consultation_from_json(flat)
    assert info is not None
    assert (info.id, info.effective_goal_id, info.message_count) == ("c1", "g1", 1)
    assert consultation_from_json({"persona": "x"}) is None
    greeting = {"id": "g", "role": "assistant", "content": "Hello"}
    nested, messages = consultation_from_create(
        {"consultation": flat, "greeting_message": greeting}
    )
    assert nested == info
    assert [m.id for m in messages] == ["g"]
    _, inside = consultation_from_create({"consultation": {**flat, "messages": [greeting]}})
    assert [m.id for m in inside] == ["g"]
    _, both = consultation_from_create(
        {"consultation": {**flat, "messages": [greeting]}, "greeting_message": greeting}
    )
    assert len(both) == 1
    assert consultation_from_create(flat)[0] == info
    assert consultation_from_create("nope") == (None, [])
    legacy = consultation_from_json({"id": "c", "goal_id": "OLD"})
    assert legacy is not None
    assert legacy.effective_goal_id == "old"


def test_wire_quick_actions_from_both_shapes() -> None:
    actions = quick_actions_from_json(
        {"actions": [{"id": "suggest-goal", "title": "Suggest", "prompt": "p", "icon": "t"}, 3]}
    )
    assert [(a.id, a.title) for a in actions] == [("suggest-goal", "Suggest")]
    enh = quick_actions_from_json({"quick_actions": [{"prompt": "Plan", "category": "c"}]})
    assert (enh[0].title, enh[0].extra) == ("Plan", {"category": "c"})
    assert quick_actions_from_json("nope") == []


def test_wire_frames_split_on_newlines_and_count_what_is_skipped() -> None:
    batch = parse_frames('{"type":"stream_chunk","content":"a"}\n\n{oops\n[1]\n{"type":"new"}\n')
    assert [getattr(e, "content", None) for e in batch.events] == ["a"]
    assert batch.skipped == 3
    assert parse_frames(b"\x00binary").skipped == 1


def test_wire_input_validation() -> None:
    assert validate_message("  hi  ") == "hi"
    assert validate_message(" " + "x" * 5000 + " ") == "x" * 5000
    with pytest.raises(InvalidMessageError, match="empty"):
        validate_message(" \n ")
    with pytest.raises(InvalidMessageError, match="5001"):
        validate_message("x" * 5001)
    with pytest.raises(InvalidMessageError, match="text"):
        validate_message(5)
    assert validate_persona("nutritionist") == "nutritionist"
    with pytest.raises(InvalidPersonaError, match="general_wellness"):
        validate_persona("mental_health_coach")
    upper = "0B0F2A52-6A57-4D1F-A1A5-1F2D3C4B5A69"
    assert normalize_id(upper, "Goal") == upper.lower()
    with pytest.raises(InvalidIdError, match="Goal id"):
        normalize_id("goal-1", "Goal")
    with pytest.raises(InvalidIdError):
        normalize_id(None, "Consultation")


def test_wire_urls_use_the_bare_origin_and_redact_secrets() -> None:
    assert (
        ws_origin("https://fit-iq-backend.fly.dev/ws/meal-logs") == "wss://fit-iq-backend.fly.dev"
    )
    assert ws_origin("http://127.0.0.1:8080/") == "ws://127.0.0.1:8080"
    with pytest.raises(ValueError, match="http"):
        ws_origin("ftp://x")
    assert redact_url("wss://h/p?token=abc.def&x=1") == "wss://h/p?token=***&x=1"
    assert redact_url("https://user:pw@h/p") == "https://***@h/p"
    assert redact_url("http://[::1") == "<unparseable url>"


@pytest.mark.parametrize(
    ("status", "kwargs", "error"),
    [
        (None, {}, ConnectionFailedError),
        (401, {}, AuthenticationError),
        (403, {"code": "CONSULTATION_NOT_ACTIVE"}, ConsultationNotActiveError),
        (403, {}, PermissionDeniedError),
        (404, {}, NotFoundError),
        (429, {"creating": True}, TooManyConsultationsError),
        (429, {"creating": True, "retry_after": 3.0}, RateLimitedError),
        (429, {"creating": True, "code": "RATE_LIMITED"}, RateLimitedError),
        (429, {}, RateLimitedError),
        (503, {"retry_after": 2.0}, RateLimitedError),
        (500, {}, ServerError),
        (413, {}, InvalidInputError),
        (409, {}, ApiError),
    ],
)
def test_wire_statuses_map_to_the_error_tree(status: int | None, kwargs: dict, error: type) -> None:
    made = error_for_status(status, "why", unsent_text="t", **kwargs)
    assert type(made) is error
    assert made.unsent_text == "t"
    assert str(made)


def test_wire_not_active_is_recognised_from_the_text() -> None:
    assert isinstance(
        error_for_status(403, "forbidden or consultation not active"), ConsultationNotActiveError
    )
    assert timezone.utc  # keep the import honest


def test_wire_hostile_frames_and_stamps_never_raise() -> None:
    batch = parse_frames('{"type": ["stream_chunk"]}\n{"type": {"a": 1}}\n' + "[" * 100000)
    assert batch.events == ()
    assert batch.skipped == 3
    assert parse_timestamp("2025-01-01T00:00:00+24:00") is None
    assert parse_timestamp("2025-01-01T00:00:00.5-99:99") is None


def test_wire_history_page_is_placed_only_when_the_answer_says_where() -> None:
    from lume_widget.core.wire import history_page

    one = [{"id": "m3", "role": "user", "content": "hi"}]
    assert history_page({"messages": one, "offset": 3, "limit": 100}, 3)[1] == 3  # echoed
    assert history_page({"messages": one, "total_count": 4}, 3)[1] == 3  # the tail of 4
    assert history_page({"messages": one * 4, "total_count": 4}, 3)[1] == 0  # paging ignored
    assert history_page({"messages": one, "total": 1}, 3)[1] == 0  # CBS's `total`
    assert history_page({"messages": one}, 3)[1] is None  # cannot tell
    assert history_page(one, 3)[1] is None  # a bare list
    assert history_page({"messages": one, "offset": True, "total_count": 9}, 3)[1] is None
    messages, start = history_page({"messages": one}, 0)
    assert (start, [m.id for m in messages]) == (0, ["m3"])


def test_wire_history_total_is_the_count_the_answer_states() -> None:
    from lume_widget.core.wire import history_total

    assert history_total({"messages": [], "total_count": 5001}) == 5001
    assert history_total({"messages": [], "total": 3}) == 3  # CBS's `total`
    assert history_total({"messages": [], "total_count": True}) is None
    assert history_total({"messages": []}) is None
    assert history_total([]) is None  # a bare list says nothing
