"""The core's pure helpers at their edges: tiers by name, certificate failures, error bodies
that are pages or objects, frames that need no repair, goal fields left out or mistyped."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from lume_widget.core.errors_map import error_for_status
from lume_widget.core.events import Tier, unknown_tier
from lume_widget.core.frames import FrameError, WholeMessage
from lume_widget.core.goals import (
    UNSET,
    activity_body,
    activity_from_json,
    goal_from_json,
    new_goal_body,
    parse_goal_date,
)
from lume_widget.core.models import Goal, Message
from lume_widget.core.turn import Turn, error_from_frame
from lume_widget.core.wire import error_info, looks_like_html, parse_frames, validate_message
from lume_widget.errors import (
    ConnectionFailedError,
    InvalidGoalError,
    InvalidInputError,
    InvalidMessageError,
    ServerError,
)


def test_tier_parse_takes_a_tier_its_name_in_any_case_or_nothing() -> None:
    assert Tier.parse(None) is None
    assert Tier.parse("") is None
    assert Tier.parse(Tier.REST) is Tier.REST
    assert Tier.parse("  Legacy ") is Tier.LEGACY
    with pytest.raises(InvalidInputError) as caught:
        Tier.parse("carrier pigeon")
    assert caught.value.message == unknown_tier("carrier pigeon")
    assert "pin one of live, rest or legacy" in caught.value.message


def test_error_for_status_an_untrusted_certificate_says_how_to_trust_one() -> None:
    reason = (
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate "
        "(_ssl.c:1006)"
    )
    error = error_for_status(None, reason, unsent_text="Hi")
    assert isinstance(error, ConnectionFailedError)
    assert "(self-signed certificate)" in error.message
    assert "not a server that is down" in error.message
    assert error.unsent_text == "Hi"


def test_error_info_an_html_page_is_named_never_pasted() -> None:
    page = "<!DOCTYPE html><html><body>502 Bad Gateway</body></html>"
    info = error_info(page, "HTTP 502")
    assert info.message == "HTTP 502; an HTML page, not a Lume backend's JSON"
    assert not looks_like_html(None)
    assert not looks_like_html({"error": "x"})


def test_parse_frames_an_error_object_gives_its_message() -> None:
    line = json.dumps({"type": "error", "error": {"message": "Overloaded"}, "code": "BUSY"})
    [event] = parse_frames(line).events
    assert event == FrameError(error="Overloaded", code="BUSY")


def test_parse_frames_an_escape_that_is_not_a_lone_surrogate_changes_nothing() -> None:
    line = '{"type": "message", "message": {"id": "m1", "role": "assistant", "content": "\\u00e9\\ud83d\\ude00"}}'
    [event] = parse_frames(line).events
    assert isinstance(event, WholeMessage)
    assert event.message is not None
    assert event.message.content == "\u00e9\U0001f600"


def test_parse_frames_a_lone_surrogate_outside_a_chunk_is_repaired() -> None:
    line = '{"type": "error", "error": "bad \\ud83d", "code": "X"}'
    [event] = parse_frames(line).events
    assert event == FrameError(error="bad \ufffd", code="X")


def test_validate_message_rejects_what_is_not_text() -> None:
    with pytest.raises(InvalidMessageError, match="must be text, not int"):
        validate_message(42)


def test_error_from_frame_reply_not_stored_keeps_the_text() -> None:
    turn = Turn(id="t1", text="Hi", began_at=0.0, wall_start=None, baseline=0, chunks=["Par"])
    error, message = error_from_frame(
        turn, FrameError(error="store failed", code="REPLY_NOT_STORED")
    )
    assert isinstance(error, ServerError)
    assert (error.code, error.partial_text, message) == ("REPLY_NOT_STORED", "Par", "store failed")


def test_message_to_dict_keeps_what_it_answers() -> None:
    message = Message("a1", "assistant", "Hello", reply_to="u1")
    assert message.to_dict() == {
        "id": "a1",
        "role": "assistant",
        "content": "Hello",
        "reply_to": "u1",
    }


def test_goal_target_reads_as_value_and_unit() -> None:
    assert Goal("g1", "Walk", target_value=10000.0, target_unit="steps").target == "10000 steps"
    assert Goal("g1", "Walk", target_value=2.5).target == "2.5"
    assert Goal("g1", "Walk").target == ""


def test_goal_date_of_a_datetime_is_its_day() -> None:
    assert parse_goal_date(datetime(2025, 3, 4, 23, 0, tzinfo=timezone.utc)).isoformat() == (
        "2025-03-04"
    )
    assert repr(UNSET) == "UNSET"


def test_goal_from_json_recurrence_days_given_beside_a_pattern_object_win() -> None:
    goal = goal_from_json(
        {
            "id": "G1",
            "title": "Walk",
            "recurrence_days": [1, 3],
            "recurrence_pattern": {"pattern": "weekly", "days": [5], "end_date": "2025-06-01"},
        }
    )
    assert goal is not None
    assert (goal.recurrence_pattern, goal.recurrence_days) == ("weekly", (1, 3))
    assert goal.recurrence_end_date is not None
    assert goal.recurrence_end_date.isoformat() == "2025-06-01"


def test_new_goal_body_is_recurring_must_be_a_boolean() -> None:
    with pytest.raises(InvalidGoalError) as caught:
        new_goal_body(
            title="Walk",
            goal_type="activity",
            target_value=10,
            target_unit="km",
            start_date="2025-01-01",
            is_recurring="yes",
        )
    assert caught.value.problems == {"is_recurring": "is_recurring must be true or false"}


def test_new_goal_body_a_boolean_is_no_amount() -> None:
    with pytest.raises(InvalidGoalError) as caught:
        new_goal_body(
            title="Walk", goal_type="activity", target_value=True, target_unit="km", start_date=None
        )
    assert set(caught.value.problems) == {"target_value", "start_date"}
    assert caught.value.problems["start_date"] == "start_date is required: a date as YYYY-MM-DD"


def test_goal_from_json_a_boolean_is_no_day_number() -> None:
    goal = goal_from_json({"id": "g1", "title": "Walk", "recurrence_days": [True, 2]})
    assert goal is not None
    assert goal.recurrence_days == (2,)


def test_activity_from_json_without_an_id_is_none() -> None:
    assert activity_from_json({"activity_type": "walk"}) is None
    assert activity_from_json(["not", "an", "object"]) is None


def test_activity_body_leaves_out_notes_not_given() -> None:
    assert activity_body("walk", 2) == {"activity_type": "walk", "value": 2}
    assert activity_body("walk", 2, "easy") == {
        "activity_type": "walk",
        "value": 2,
        "notes": "easy",
    }


def test_validate_message_rejects_half_a_character_and_keeps_the_text_repaired() -> None:
    with pytest.raises(InvalidMessageError) as caught:
        validate_message("Hi \ud83d there")
    assert "character 4 is half of a character" in caught.value.message
    assert "U+D83D" in caught.value.message
    assert caught.value.unsent_text == "Hi \ufffd there"
