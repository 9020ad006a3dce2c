"""When the rest and legacy tiers read the history for a reply: the poll schedule, one table.

A schedule is a tuple of bands ``(until_s, gap_s)``: while less than ``until_s`` seconds
have passed since the user's message was sent, the next history read comes ``gap_s``
after the last one answered (or after the send was accepted). The last band's ``until_s``
is infinite. :func:`poll_gap` is the whole rule; :func:`poll_times` lays a schedule out
in time (for tests and docs, no clock involved).

Why these numbers
-----------------
- A reply is usually ready a couple of seconds after the send (the backend's replies take
  2-30 s, its first words about 2 s, PROTOCOL B8), so the rest tier polls densely at first
  (every 0.1 s for half a second, then every 0.25 s up to 3 s): a reply ready at 2 s is seen
  by about 2.25 s, a reply ready at once within about 0.1 s.
- Then it backs off (1 s up to 10 s, 2 s up to 30 s, then 3 s, the rate of the iOS app's
  own polling): a long reply costs a request every few seconds, not a steady stream.
- Rate limits: the backend states none for plain REST calls ("standard"), and the iOS app
  it serves makes about 50 requests a minute per open chat (``GET /consultations/{id}``
  every 2 s while live, plus polls every 3 s). This schedule makes 42 reads in the first
  minute of a turn and 20 a minute after; :data:`POLLS_PER_MINUTE_LIMIT` is the ceiling a
  test holds every schedule to. A 429 (or 503) with Retry-After is waited out as it says
  (capped, PROTOCOL A3), then the schedule goes on where the time since the send puts it.
- The legacy channel is polled only while its socket is down, is older and is the last
  tier (the others failed): a read a second for the first 3 s, then every 3 s, the rate
  PROTOCOL A4 and the iOS app give it.

Every gap is a timing of :class:`~lume_widget.core.settings.Settings`, so tests scale them
with every other timing.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

__all__ = [
    "LEGACY_POLL_SCHEDULE",
    "POLLS_PER_MINUTE_LIMIT",
    "REST_POLL_SCHEDULE",
    "PollSchedule",
    "check_schedule",
    "first_gap",
    "most_polls_in",
    "poll_gap",
    "poll_times",
]

PollSchedule = tuple[tuple[float, float], ...]
"""Bands ``(until_s, gap_s)``, ``until_s`` rising, the last one infinite."""

REST_POLL_SCHEDULE: PollSchedule = (
    (0.5, 0.1),
    (3.0, 0.25),
    (10.0, 1.0),
    (30.0, 2.0),
    (math.inf, 3.0),
)
"""The rest tier: dense while a reply is most likely to land, then backing off to 3 s."""

LEGACY_POLL_SCHEDULE: PollSchedule = (
    (3.0, 1.0),
    (math.inf, 3.0),
)
"""The legacy channel while its socket is down: every second for 3 s, then every 3 s."""

POLLS_PER_MINUTE_LIMIT = 60
"""No schedule may read the history more often than this in any minute of a turn."""


def check_schedule(schedule: Sequence[tuple[float, float]]) -> PollSchedule:
    """The schedule as a tuple, or ValueError saying what is wrong with it."""
    bands = tuple((float(until), float(gap)) for until, gap in schedule)
    if not bands:
        raise ValueError("a poll schedule needs at least one band (until_s, gap_s)")
    if any(gap <= 0 for _, gap in bands):
        raise ValueError("every gap of a poll schedule must be positive")
    if any(b[0] <= a[0] for a, b in itertools.pairwise(bands)):
        raise ValueError("the bands of a poll schedule must end at rising times")
    if not math.isinf(bands[-1][0]):
        raise ValueError("the last band of a poll schedule must run forever (until_s = inf)")
    return bands


def poll_gap(schedule: PollSchedule, since_send_s: float) -> float:
    """How long to wait before the next history read, ``since_send_s`` after the send."""
    for until, gap in schedule:
        if since_send_s < until:
            return gap
    return schedule[-1][1]  # pragma: no cover - the last band runs forever


def first_gap(schedule: PollSchedule) -> float:
    """The gap right after a send: the shortest wait the schedule ever asks for first."""
    return schedule[0][1]


def poll_times(schedule: PollSchedule, horizon_s: float) -> list[float]:
    """When the reads happen (seconds after the send) up to ``horizon_s``, answers instant."""
    times: list[float] = []
    at = 0.0
    while True:
        at += poll_gap(schedule, at)
        if at > horizon_s:
            return times
        times.append(round(at, 9))


def most_polls_in(schedule: PollSchedule, window_s: float, horizon_s: float) -> int:
    """The most reads that fall in any ``window_s`` of the first ``horizon_s`` of a turn."""
    times = poll_times(schedule, horizon_s)
    most = 0
    start = 0
    for end, at in enumerate(times):
        while at - times[start] >= window_s:
            start += 1
        most = max(most, end - start + 1)
    return most
