"""Pure pieces of the reference server, checked as properties: chunking, ids, timestamps, faults."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lume_widget.server.config import FaultError, Faults
from lume_widget.server.responders import split_into_chunks
from lume_widget.server.wire import ApiProblem, error_body, format_timestamp, parse_id


@given(st.text(), st.text(max_size=20))
def test_wire_chunks_always_join_back_exactly(text: str, seed: str) -> None:
    chunks = split_into_chunks(text, seed)
    assert "".join(chunks) == text
    assert all(1 <= len(chunk.split()) <= 3 for chunk in chunks if chunk.strip())


@given(st.uuids())
def test_wire_ids_match_case_insensitively(value: uuid.UUID) -> None:
    text = str(value)
    assert parse_id(text.upper()) == text
    assert parse_id(text) == text


@given(st.text(max_size=40))
def test_wire_non_uuids_are_refused(text: str) -> None:
    try:
        canonical = str(uuid.UUID(text))
    except ValueError:
        canonical = None
    parsed = parse_id(text)
    assert parsed is None or parsed == canonical


@given(st.integers(min_value=0, max_value=4_102_444_800 * 10**9))
def test_wire_timestamps_have_nine_digits_observed_and_none_in_spec(ns: int) -> None:
    observed = format_timestamp(ns, "observed")
    spec = format_timestamp(ns, "spec")
    assert observed.endswith("Z")
    assert len(observed.split(".")[1]) == 10  # nine digits and the Z
    assert observed.split(".")[1][:9] == f"{ns % 10**9:09d}"
    assert spec == observed.split(".")[0] + "Z"
    parsed = datetime.fromisoformat(spec.replace("Z", "+00:00"))
    assert parsed == datetime.fromtimestamp(ns // 10**9, tz=timezone.utc)


def test_wire_error_shapes_per_profile() -> None:
    plain = ApiProblem(404, "consultation not found", code="NOT_FOUND")
    assert error_body(plain, "observed") == {
        "error": {"message": "consultation not found", "code": "NOT_FOUND"}
    }
    assert error_body(plain, "spec") == {"success": False, "error": "consultation not found"}
    conflict = ApiProblem(409, "exists", code="CONSULTATION_EXISTS", details={"can_continue": True})
    assert error_body(conflict, "spec")["error"] == {
        "code": "CONSULTATION_EXISTS",
        "message": "exists",
        "details": {"can_continue": True},
    }
    duplicate_email = ApiProblem(409, "an account with this email exists", code="EMAIL_EXISTS")
    assert error_body(duplicate_email, "spec") == {
        "success": False,
        "error": "an account with this email exists",
    }
    missing_goal = ApiProblem(404, "goal not found", code="GOAL_NOT_FOUND")
    assert error_body(missing_goal, "spec", "/api/v1/goals/x") == {
        "success": False,
        "data": None,
        "error": {"message": "goal not found"},
    }
    assert error_body(missing_goal, "spec", "/api/v1/goalsmith") == {
        "success": False,
        "error": "goal not found",
    }


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"nope": 1}, "unknown fault 'nope'"),
        ({"http_error_rate": 1.5}, "between 0 and 1"),
        ({"http_error_rate": True}, "between 0 and 1"),
        ({"http_error_status": 404}, "a 5xx status"),
        ({"refuse_ws_upgrade": 200}, "between 400 and 599"),
        ({"ws_close_mode": "gentle"}, "'clean' or 'abrupt'"),
        ({"ws_pack_events": 0}, "at least 1"),
        ({"ws_stall_after_chunks": -1}, "non-negative"),
        ({"legacy_down": "yes"}, "true or false"),
    ],
)
def test_wire_faults_refuse_bad_settings(changes: dict[str, object], problem: str) -> None:
    with pytest.raises(FaultError, match=problem):
        Faults().merged(changes)


def test_wire_faults_merge_and_report_only_active_ones() -> None:
    faults = Faults().merged({"ws_close_after_chunks": 3, "http_error_rate": 1})
    assert faults.http_error_rate == 1.0
    assert faults.active() == {"ws_close_after_chunks": 3, "http_error_rate": 1.0}
    assert faults.merged({"ws_close_after_chunks": None}).active() == {"http_error_rate": 1.0}
