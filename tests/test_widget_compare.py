"""CompareWidget against the reference server: sides side by side, one message to all.

Each side is a chat panel with its own consultation; one ``ask`` reaches every side at
once; ratings and the best pick are per turn; the comparison saves as a scenario that
loads with every persona; and the whole comparison stays inside the comm budget with four
sides streaming 200 chunks a second each.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import scaled

from lume_widget.core.events import Reply
from lume_widget.errors import ConfigurationError
from lume_widget.evaluation import load_scenarios
from lume_widget.server import ReferenceServer
from lume_widget.widget import CommLog, CompareWidget
from lume_widget.widget.compare import COMM_BUDGET_PER_S, side_flush_ms


def credentials(server: ReferenceServer) -> dict[str, str]:
    return {"api_key": server.api_key, "email": server.email, "password": server.password}


def busiest_second(logs: list[CommLog]) -> int:
    """The most comm messages any one-second window of the logs holds, all logs together."""
    times = sorted(r.at for log in logs for r in log.records)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] > 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def front_end(widget: Any, content: dict[str, Any]) -> None:
    widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
    )


def test_compare_sends_to_every_side_each_with_its_own_consultation(
    reference_server: ReferenceServer, tmp_path: Path
) -> None:
    cmp = CompareWidget(
        ["nutritionist", "fitness_coach", "wellness_specialist"],
        url=reference_server.url,
        **credentials(reference_server),
    )
    try:
        cmp.wait_ready()
        assert len({side.consultation_id for side in cmp.sides}) == 3
        assert len({id(side.client) for side in cmp.sides}) == 1  # one shared client
        assert cmp.labels == ["Nutritionist", "Fitness coach", "Wellness specialist"]
        replies = cmp.ask("I keep waking up tired. What should I change first?")
        assert all(isinstance(r, Reply) for r in replies)
        assert [r.consultation_id for r in replies if isinstance(r, Reply)] == [
            s.consultation_id for s in cmp.sides
        ]
        cmp.ask("And caffeine?")
        # The view lines the columns up by these (synced with the update that sets busy).
        assert cmp.turns == ["I keep waking up tired. What should I change first?", "And caffeine?"]
        cmp.rate(0, 0, "up", "concrete", best=True)
        cmp.rate(1, 0, "down", "off persona")
        cmp.rate(1, 0, None, "off persona", best=True)  # the pick moves to side 1
        turns = cmp.ratings
        assert [t["say"] for t in turns] == [
            "I keep waking up tired. What should I change first?",
            "And caffeine?",
        ]
        first = {r["side"]: r for r in turns[0]["replies"]}
        assert (first[0]["rating"], first[0]["best"]) == ("up", False)
        assert (first[1]["best"], first[1]["note"]) == (True, "off persona")
        assert turns[1]["replies"] == []
        path = cmp.to_scenario(tmp_path / "compare.yaml")
        text = path.read_text(encoding="utf-8")
        assert "# Nutritionist: rated 👍 up: concrete" in text
        assert "# Fitness coach: best reply: off persona" in text
        (scenario,) = load_scenarios(path).scenarios
        assert scenario.persona == ["nutritionist", "fitness_coach", "wellness_specialist"]
        assert [t.say for t in scenario.turns or ()] == [t["say"] for t in turns]
        with pytest.raises(ConfigurationError, match="no reply to turn 5"):
            cmp.rate(0, 5)
    finally:
        cmp.close()


def test_compare_stop_on_one_side_leaves_the_others_streaming(
    reference_server_factory: Any,
) -> None:
    server = reference_server_factory(chunk_delay_ms=5)
    cmp = CompareWidget(
        sides=[{"persona": "nutritionist"}, {"persona": "nutritionist", "label": "again"}],
        url=server.url,
        **credentials(server),
    )
    try:
        cmp.wait_ready()
        assert cmp.sides[0].consultation_id != cmp.sides[1].consultation_id
        logs = [side.record_comm() for side in cmp.sides]
        front_end(cmp, {"type": "send", "text": "/long 400"})
        # Stop once both sides stream (text reached the panel): a turn that is pending has
        # not necessarily received any of its reply yet, and a reply stopped before its
        # first chunk leaves no stopped message to check.
        deadline = time.monotonic() + scaled(10)
        while not all(log.of_kind("delta") for log in logs) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(log.of_kind("delta") for log in logs)
        assert cmp.busy
        cmp.sides[0].stop()
        while cmp.busy and time.monotonic() < deadline + scaled(20):
            time.sleep(0.02)
        statuses = [s.messages[-1]["status"] for s in cmp.sides]
        assert statuses == ["stopped", "complete"]
    finally:
        cmp.close()


def test_compare_four_sides_at_200_chunks_per_s_stay_within_the_comm_budget(
    reference_server_factory: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    server = reference_server_factory(chunk_delay_ms=5)  # 200 chunks a second per side
    cmp = CompareWidget(
        ["nutritionist", "fitness_coach", "wellness_specialist", "general_wellness"],
        url=server.url,
        **credentials(server),
    )
    try:
        cmp.wait_ready()
        logs = [side.record_comm() for side in cmp.sides]
        own = CommLog()
        original = cmp._send

        def send(msg: dict[str, Any], buffers: Any = None) -> None:
            own.record(msg, buffers)
            original(msg, buffers)

        cmp._send = send  # type: ignore[method-assign]
        started = time.monotonic()
        replies = cmp.ask("/long 1000")
        elapsed = time.monotonic() - started
        assert all(isinstance(r, Reply) and r.chunks == 1000 for r in replies)
        total = sum(log.count for log in logs) + own.count
        peak = busiest_second([*logs, own])
        deltas = sum(len(log.of_kind("delta")) for log in logs)
        with capsys.disabled():
            print(
                f"\n[compare channel] 4 sides x 1000 chunks at 200/s: {elapsed:.2f} s,"
                f" {total} comm msgs ({deltas} deltas), busiest second {peak} msgs"
                f" (budget {COMM_BUDGET_PER_S}), flush window {side_flush_ms(4):.0f} ms per side"
            )
        assert peak <= COMM_BUDGET_PER_S
        for log, reply in zip(logs, replies, strict=True):
            text = "".join(d.data["content"]["text"] for d in log.of_kind("delta"))
            assert isinstance(reply, Reply)
            assert text == reply.text
    finally:
        cmp.close()


def test_compare_says_what_to_do_with_bad_sides(reference_server: ReferenceServer) -> None:
    with pytest.raises(ConfigurationError, match="2 to 5 sides"):
        CompareWidget(["nutritionist"], url=reference_server.url)
    with pytest.raises(ConfigurationError, match="Unknown persona"):
        CompareWidget(["nutritionist", "pirate"], url=reference_server.url)
    with pytest.raises(ConfigurationError, match="unknown keys"):
        CompareWidget(sides=[{"persona": "nutritionist"}, {"model": "x"}], url=reference_server.url)
    assert threading.active_count() >= 1


def test_compare_two_backends_each_side_on_its_own_server(reference_server_factory: Any) -> None:
    base, staging = reference_server_factory(), reference_server_factory()
    cmp = CompareWidget(
        sides=[
            {"persona": "nutritionist"},
            {
                "persona": "nutritionist",
                "url": staging.url,
                "label": "staging",
                **credentials(staging),
            },
        ],
        url=base.url,
        **credentials(base),
    )
    try:
        assert cmp.labels == ["Nutritionist", "staging"]
        assert cmp.sides[0].client is cmp.client
        assert cmp.sides[1].client is not cmp.client
        replies = cmp.ask("Hello from both")
        assert all(isinstance(r, Reply) for r in replies)
        assert base.url != staging.url
        for side in cmp.sides:
            assert [m["content"] for m in side.messages if m["role"] == "user"][
                -1
            ] == "Hello from both"
        state = {k: v for side in cmp.sides for k, v in side.get_state().items()}
        for secret in (staging.password, staging.api_key, base.password):
            assert secret not in repr(state)
            assert secret not in repr(cmp.get_state())
    finally:
        cmp.close()
