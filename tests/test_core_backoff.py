"""Full-jitter backoff with a stability window, and the retry classifier of PROTOCOL A3."""

from __future__ import annotations

import pytest

from lume_widget.core.backoff import Backoff, Decision, classify, parse_retry_after
from lume_widget.core.settings import Settings


def test_backoff_ceilings_double_from_half_a_second_to_the_cap() -> None:
    backoff = Backoff(Settings(), lambda: 1.0)
    assert [backoff.next_delay() for _ in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def test_backoff_is_full_jitter() -> None:
    backoff = Backoff(Settings(), lambda: 0.25)
    assert backoff.next_delay() == 0.125
    assert backoff.next_delay() == 0.25


def test_backoff_resets_only_after_the_link_stayed_up() -> None:
    backoff = Backoff(Settings(), lambda: 1.0)
    backoff.next_delay()
    backoff.next_delay()
    backoff.link_up(100.0)
    backoff.link_down(105.0)  # up 5 s: a flapping server keeps its backoff
    assert backoff.attempts == 2
    backoff.link_up(200.0)
    backoff.tick(205.0)
    assert backoff.attempts == 2
    backoff.tick(210.0)
    assert backoff.attempts == 0
    backoff.next_delay()
    backoff.link_up(300.0)
    backoff.link_down(311.0)
    assert backoff.attempts == 0
    backoff.link_down(400.0)  # not up: nothing to reset
    backoff.next_delay()
    backoff.reset()
    assert backoff.attempts == 0


@pytest.mark.parametrize(
    ("status", "retry_after", "decision", "wait"),
    [
        (None, None, Decision.RETRY, 0.0),
        (408, None, Decision.RETRY, 0.0),
        (500, None, Decision.RETRY, 0.0),
        (503, None, Decision.RETRY, 0.0),
        (503, "7", Decision.WAIT, 7.0),
        (429, "600", Decision.WAIT, 60.0),
        (429, None, Decision.WAIT, 1.0),
        (429, "soon", Decision.WAIT, 1.0),
        (401, None, Decision.REFRESH, 0.0),
        (400, None, Decision.GIVE_UP, 0.0),
        (404, None, Decision.GIVE_UP, 0.0),
    ],
)
def test_backoff_classifier(
    status: int | None, retry_after: str | None, decision: Decision, wait: float
) -> None:
    verdict = classify(status, retry_after, Settings())
    assert verdict.decision is decision
    assert verdict.wait_s == wait


def test_backoff_retry_after_parsing() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after(" 3 ") == 3.0
    assert parse_retry_after("-2") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None


def test_backoff_settings_scale_timings_not_counts() -> None:
    scaled = Settings().scaled(0.1)
    assert scaled.stream_inactivity_s == pytest.approx(3.0)
    assert scaled.live_connect_attempts == 5
    assert scaled.refresh_margin_s == 300.0
    with pytest.raises(ValueError, match="positive"):
        Settings().scaled(0)
