"""The delta coalescer on fake time: prompt first delta, bursts coalesced, sequence numbers, snapshots."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lume_widget.widget.coalescer import DeltaCoalescer

WINDOW = 0.040


class FakeTimers:
    """A clock and call_later driven by the test."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pending: list[tuple[float, Callable[[], None], FakeHandle]] = []

    def clock(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> FakeHandle:
        handle = FakeHandle()
        self.pending.append((self.now + delay, callback, handle))
        return handle

    def advance(self, seconds: float) -> None:
        target = self.now + seconds
        while True:
            due = [p for p in self.pending if p[0] <= target and not p[2].cancelled]
            if not due:
                break
            first = min(due, key=lambda p: p[0])
            self.pending.remove(first)
            self.now = first[0]
            first[1]()
        self.pending = [p for p in self.pending if not p[2].cancelled]
        self.now = target


class FakeHandle:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


@pytest.fixture
def timers() -> FakeTimers:
    return FakeTimers()


@pytest.fixture
def sent() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def coalescer(timers: FakeTimers, sent: list[dict[str, Any]]) -> DeltaCoalescer:
    return DeltaCoalescer(
        sent.append, flush_s=WINDOW, clock=timers.clock, call_later=timers.call_later
    )


def test_coalescer_first_chunk_after_quiet_is_sent_at_once(
    coalescer: DeltaCoalescer, sent: list[dict[str, Any]]
) -> None:
    coalescer.start("t1")
    coalescer.add("Hello")
    assert sent == [{"type": "delta", "turn_id": "t1", "seq": 1, "text": "Hello"}]


def test_coalescer_burst_becomes_one_delta_per_window(
    coalescer: DeltaCoalescer, timers: FakeTimers, sent: list[dict[str, Any]]
) -> None:
    coalescer.start("t1")
    coalescer.add("a")
    for word in ["b", "c", "d"]:
        timers.advance(0.005)
        coalescer.add(word)
    assert len(sent) == 1
    timers.advance(WINDOW)
    assert [m["text"] for m in sent] == ["a", "bcd"]
    assert [m["seq"] for m in sent] == [1, 2]


def test_coalescer_quiet_period_flushes_next_chunk_promptly(
    coalescer: DeltaCoalescer, timers: FakeTimers, sent: list[dict[str, Any]]
) -> None:
    coalescer.start("t1")
    coalescer.add("a")
    timers.advance(WINDOW * 3)
    coalescer.add("b")
    assert [m["text"] for m in sent] == ["a", "b"]


def test_coalescer_five_thousand_chunks_cost_one_message_per_window(
    coalescer: DeltaCoalescer, timers: FakeTimers, sent: list[dict[str, Any]]
) -> None:
    coalescer.start("t1")
    chunks = [f"w{i} " for i in range(5000)]
    for chunk in chunks:
        coalescer.add(chunk)
        timers.advance(0.0002)  # 5,000 chunks/s: a fast loopback stream
    coalescer.finish()
    streamed_s = 5000 * 0.0002
    assert len(sent) <= streamed_s / WINDOW + 2
    assert "".join(m["text"] for m in sent) == "".join(chunks)
    assert [m["seq"] for m in sent] == list(range(1, len(sent) + 1))


def test_coalescer_snapshot_holds_flushed_draft_and_its_seq(
    coalescer: DeltaCoalescer, timers: FakeTimers, sent: list[dict[str, Any]]
) -> None:
    coalescer.start("t1")
    coalescer.add("one ")
    coalescer.add("two ")
    snapshot = coalescer.snapshot()
    assert snapshot == {"type": "snapshot", "turn_id": "t1", "seq": 1, "text": "one "}
    timers.advance(WINDOW)
    assert sent[-1] == {"type": "delta", "turn_id": "t1", "seq": 2, "text": "two "}
    # a view applying the snapshot, then only deltas with a higher seq, sees every chunk once
    view = snapshot["text"] + "".join(m["text"] for m in sent if m["seq"] > snapshot["seq"])
    assert view == coalescer.text == "one two "


def test_coalescer_finish_flushes_rest_and_cancels_timer(
    coalescer: DeltaCoalescer, timers: FakeTimers, sent: list[dict[str, Any]]
) -> None:
    coalescer.start("t1")
    coalescer.add("a")
    coalescer.add("b")
    assert coalescer.finish() == "ab"
    timers.advance(WINDOW * 2)
    assert [m["text"] for m in sent] == ["a", "b"]
    assert coalescer.snapshot()["turn_id"] is None


def test_coalescer_new_turn_restarts_sequence(
    coalescer: DeltaCoalescer, sent: list[dict[str, Any]]
) -> None:
    coalescer.start("t1")
    coalescer.add("a")
    coalescer.finish()
    coalescer.start("t2")
    coalescer.add("b")
    assert sent[-1] == {"type": "delta", "turn_id": "t2", "seq": 1, "text": "b"}


def test_coalescer_add_without_turn_is_refused(coalescer: DeltaCoalescer) -> None:
    with pytest.raises(RuntimeError, match="no turn"):
        coalescer.add("a")
