"""The poll schedules of the rest and legacy tiers: one table each, laid out without a clock."""

from __future__ import annotations

import math

import pytest

from lume_widget.core.polling import (
    LEGACY_POLL_SCHEDULE,
    POLLS_PER_MINUTE_LIMIT,
    REST_POLL_SCHEDULE,
    check_schedule,
    first_gap,
    most_polls_in,
    poll_gap,
    poll_times,
)
from lume_widget.core.settings import Settings


def _first_read_after(schedule: tuple[tuple[float, float], ...], ready_s: float) -> float:
    return next(t for t in poll_times(schedule, 600.0) if t >= ready_s)


def test_rest_schedule_starts_soon_after_the_send() -> None:
    assert first_gap(REST_POLL_SCHEDULE) == 0.1
    assert poll_times(REST_POLL_SCHEDULE, 1.0) == pytest.approx(
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0]
    )


def test_rest_schedule_sees_a_reply_ready_at_two_seconds_by_two_point_three() -> None:
    for ready in (0.01, 0.5, 1.01, 1.99, 2.0, 2.01, 2.5, 2.99):
        assert _first_read_after(REST_POLL_SCHEDULE, ready) - ready <= 0.25 + 1e-9
    assert _first_read_after(REST_POLL_SCHEDULE, 2.01) <= 2.3


def test_rest_schedule_backs_off_to_three_seconds() -> None:
    assert [poll_gap(REST_POLL_SCHEDULE, t) for t in (0.0, 0.5, 2.9, 3.0, 9.9, 10.0, 29.0)] == [
        0.1,
        0.25,
        0.25,
        1.0,
        1.0,
        2.0,
        2.0,
    ]
    assert poll_gap(REST_POLL_SCHEDULE, 30.0) == poll_gap(REST_POLL_SCHEDULE, 1e6) == 3.0


def test_legacy_schedule_polls_every_second_then_every_three() -> None:
    assert poll_times(LEGACY_POLL_SCHEDULE, 12.0) == pytest.approx([1, 2, 3, 6, 9, 12])


@pytest.mark.parametrize("schedule", [REST_POLL_SCHEDULE, LEGACY_POLL_SCHEDULE])
def test_schedules_stay_within_the_request_budget(
    schedule: tuple[tuple[float, float], ...],
) -> None:
    assert most_polls_in(schedule, 60.0, 600.0) <= POLLS_PER_MINUTE_LIMIT
    assert most_polls_in(REST_POLL_SCHEDULE, 60.0, 600.0) == 42
    assert (
        len(poll_times(REST_POLL_SCHEDULE, 120.0)) - len(poll_times(REST_POLL_SCHEDULE, 60.0)) == 20
    )


def test_settings_scale_the_schedules_with_every_other_timing() -> None:
    scaled = Settings().scaled(0.1)
    assert scaled.rest_poll_schedule[0] == pytest.approx((0.05, 0.01))
    assert math.isinf(scaled.rest_poll_schedule[-1][0])
    assert scaled.legacy_poll_schedule[-1][1] == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("bands", "problem"),
    [
        ((), "at least one band"),
        (((1.0, 0.0), (math.inf, 1.0)), "positive"),
        (((2.0, 0.1), (1.0, 0.2), (math.inf, 1.0)), "rising"),
        (((1.0, 0.1),), "run forever"),
    ],
)
def test_settings_reject_a_schedule_that_cannot_work(
    bands: tuple[tuple[float, float], ...], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        Settings(rest_poll_schedule=bands)
    with pytest.raises(ValueError, match=problem):
        check_schedule(bands)


def test_settings_accept_a_schedule_given_as_lists() -> None:
    settings = Settings(legacy_poll_schedule=[[5, 1], [math.inf, 2]])  # type: ignore[arg-type]
    assert settings.legacy_poll_schedule == ((5.0, 1.0), (math.inf, 2.0))
