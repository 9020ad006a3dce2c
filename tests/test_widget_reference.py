"""ChatWidget against the real client and reference server over loopback sockets.

Measures what a 5,000-chunk reply costs the Jupyter channel (comm messages per second of
streaming, bytes per reply character) and checks stop, snapshot resync, tier changes,
persona switching and that no credential reaches the widget's state.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import Api, scaled

from lume_widget.server import ReferenceServer
from lume_widget.widget import ChatWidget

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")
MAX_MESSAGES_PER_S = 30
MAX_BYTES_PER_CHAR = 1.1
DELTA_OVERHEAD_BYTES = 120
"""The JSON envelope of one delta: method, type, turn_id and seq, with room to spare."""


async def until(predicate: Any, what: str, timeout: float = 10.0) -> None:
    """Wait until ``predicate()`` holds, checking on every loop turn, up to a scaled timeout."""
    deadline = time.monotonic() + scaled(timeout)
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.005)


def front_end(widget: ChatWidget, content: dict[str, Any]) -> None:
    widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
    )


def credentials(server: ReferenceServer) -> dict[str, str]:
    return {
        "api_key": server.api_key,
        "email": server.email,
        "password": server.password,
        "admin_token": server.admin_token,
    }


@pytest.fixture
async def chat(reference_server: ReferenceServer) -> AsyncIterator[ChatWidget]:
    widget = ChatWidget(
        reference_server.url, persona="wellness_specialist", **credentials(reference_server)
    )
    await widget.ready()
    yield widget
    await widget.aclose()


async def test_widget_reference_long_reply_costs_few_comm_messages(
    reference_server_factory: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Paced at 1 ms per chunk (a very fast model): the stream lasts seconds, so the rate
    # of comm messages per second of streaming is measured, not the burst at the end.
    server = reference_server_factory(chunk_delay_ms=1)
    chat = ChatWidget(server.url, **credentials(server))
    await chat.ready()
    log = chat.record_comm()
    reply = await chat.ask_async("/long 5000")
    assert reply.chunks == 5000
    deltas = log.of_kind("delta")
    streaming_s = max(deltas[-1].at - deltas[0].at, 1e-9)
    per_second = len(deltas) / streaming_s
    delta_bytes = sum(d.size for d in deltas)
    text_bytes = sum(len(json.dumps(d.data["content"]["text"], ensure_ascii=False)) for d in deltas)
    chars = len(reply.text)
    allowed = MAX_BYTES_PER_CHAR * chars + DELTA_OVERHEAD_BYTES * len(deltas)
    total_bytes = log.total_bytes
    with capsys.disabled():
        print(
            f"\n[widget channel] 5000 chunks, {chars} chars in {streaming_s:.2f} s: "
            f"{len(deltas)} deltas ({per_second:.1f} msgs/s), "
            f"{delta_bytes / chars:.3f} delta bytes/char "
            f"= {text_bytes / chars:.3f} per char of text + "
            f"{(delta_bytes - text_bytes) / len(deltas):.0f} bytes envelope per flush; "
            f"all comm traffic {log.count} msgs, {total_bytes / chars:.3f} bytes/char"
        )
    assert "".join(d.data["content"]["text"] for d in deltas) == reply.text
    assert len(deltas) * 10 < reply.chunks, "chunks are coalesced, never one message per chunk"
    assert per_second <= MAX_MESSAGES_PER_S
    assert delta_bytes <= allowed
    assert not log.of_kind("snapshot"), "the draft is never resent unasked"
    await chat.aclose()


async def test_widget_reference_state_holds_no_credentials(
    chat: ChatWidget, reference_server: ReferenceServer
) -> None:
    await chat.ask_async("Help me sleep better")
    state = json.dumps(chat.get_state(), default=str)
    for name, secret in credentials(reference_server).items():
        if name != "email":
            assert secret not in state, f"{name} leaked into the widget state"
    assert not JWT.search(state), "an access or refresh token leaked into the widget state"
    assert reference_server.url not in state
    assert reference_server.api_key not in repr(chat)


async def test_widget_reference_stop_keeps_partial_reply(
    chat: ChatWidget, reference_server: ReferenceServer
) -> None:
    reference_server.set_faults(chunk_delay_ms=20)
    front_end(chat, {"type": "send", "text": "/long 400"})
    await until(lambda: len(chat._coalescer.text) > 20, "some of the reply streamed")
    front_end(chat, {"type": "stop"})
    await until(lambda: chat.pending is None, "the turn stopped")
    stopped = chat.messages[-1]
    assert stopped["role"] == "assistant"
    assert stopped["status"] == "stopped"
    assert len(stopped["content"]) > 20
    assert chat.messages[-2]["content"] == "/long 400"
    assert chat.input_enabled
    reference_server.clear_faults()
    reply = await chat.ask_async("Are you still there?")
    assert reply.text
    assert chat.messages[-1]["status"] == "complete"


async def test_widget_reference_late_view_snapshot_then_deltas(
    chat: ChatWidget, reference_server: ReferenceServer
) -> None:
    reference_server.set_faults(chunk_delay_ms=10)
    log = chat.record_comm()
    front_end(chat, {"type": "send", "text": "/long 150"})
    await until(lambda: len(log.of_kind("delta")) >= 3, "the reply is streaming")
    front_end(chat, {"type": "sync_request"})
    await until(lambda: log.of_kind("snapshot"), "the snapshot")
    await until(lambda: chat.pending is None, "the reply completed", timeout=20)
    snapshot = log.of_kind("snapshot")[0].data["content"]
    newer = [
        d.data["content"]["text"]
        for d in log.of_kind("delta")
        if d.data["content"]["turn_id"] == snapshot["turn_id"]
        and d.data["content"]["seq"] > snapshot["seq"]
    ]
    assert snapshot["seq"] >= 3
    assert snapshot["text"] + "".join(newer) == chat.messages[-1]["content"]


async def test_widget_reference_tier_badge_follows_drop(
    chat: ChatWidget, reference_server: ReferenceServer
) -> None:
    assert chat.tier == "live"
    reference_server.set_faults(refuse_ws_upgrade=403)
    front_end(chat, {"type": "simulate_drop"})
    reply = await chat.ask_async("Still there?")
    assert reply.tier.value == "rest"
    await until(lambda: chat.tier == "rest", "the tier badge moved to rest")
    assert chat.tier_reason
    assert chat.messages[-1]["metrics"]["tier"] == "rest"


async def test_widget_reference_faults_switch_from_panel(
    chat: ChatWidget, reference_server: ReferenceServer
) -> None:
    assert chat.server_kind == "reference"
    front_end(chat, {"type": "set_faults", "faults": {"latency_ms": 5}})
    await until(lambda: chat.faults.get("latency_ms") == 5, "faults shown in the panel")
    assert reference_server.faults.latency_ms == 5
    front_end(chat, {"type": "set_faults", "faults": {}})
    await until(lambda: not chat.faults.get("latency_ms"), "faults cleared")


async def test_widget_reference_persona_switch_resumes_consultation(chat: ChatWidget) -> None:
    await chat.ask_async("Hello from the wellness side")
    first_id = chat.consultation_id
    await chat.switch_async(persona="nutritionist")
    assert chat.consultation_id != first_id
    await chat.ask_async("What should I eat tonight?")
    await chat.switch_async(persona="wellness_specialist")
    assert chat.consultation_id == first_id, "switching back resumes, never duplicates"
    assert any(m["content"] == "Hello from the wellness side" for m in chat.messages)


def test_widget_reference_ask_blocks_in_plain_script(reference_server: ReferenceServer) -> None:
    widget = ChatWidget(reference_server.url, **credentials(reference_server))
    try:
        reply = widget.ask("Help me sleep better")
        assert reply.text
        assert widget.messages[-1]["content"] == reply.text
        assert widget.status in ("connected", "streaming")
    finally:
        widget.close()


async def test_widget_reference_new_goal_form_creates_and_selects_the_goal(
    chat: ChatWidget, api: Api
) -> None:
    log = chat.record_comm()
    front_end(
        chat,
        {
            "type": "create_goal",
            "request_id": "r-1",
            "goal": {
                "title": "Walk 10000 steps a day",
                "goal_type": "activity",
                "target_value": 10000,
                "target_unit": "steps",
                "start_date": "2025-11-17",
                "target_date": "2026-01-16",
                "ignored": "by the widget",
            },
        },
    )
    await until(lambda: log.of_kind("goal_form"), "the form's answer")
    answer = log.of_kind("goal_form")[0].data["content"]
    assert answer["ok"] is True
    assert answer["request_id"] == "r-1"
    await until(lambda: chat.goal_id == answer["goal_id"], "the new goal selected")
    await until(
        lambda: chat.consultation is not None and chat.consultation.goal_id == chat.goal_id,
        "its consultation",
    )
    picked = next(g for g in chat.goals if g["id"] == answer["goal_id"])
    assert (picked["title"], picked["progress"], picked["status"]) == (
        "Walk 10000 steps a day",
        0,
        "active",
    )
    stored = await api.data("GET", f"/api/v1/goals/{answer['goal_id']}")
    assert (stored["start_date"], stored["target_date"]) == ("2025-11-17", "2026-01-16")


async def test_widget_reference_new_goal_form_gets_each_bad_field_back(chat: ChatWidget) -> None:
    log = chat.record_comm()
    before = list(chat.goals)
    front_end(
        chat,
        {
            "type": "create_goal",
            "request_id": "r-2",
            "goal": {"title": "", "goal_type": "sleep", "target_value": -3, "target_unit": "h"},
        },
    )
    await until(lambda: log.of_kind("goal_form"), "the form's answer")
    answer = log.of_kind("goal_form")[0].data["content"]
    assert answer["ok"] is False
    assert answer["request_id"] == "r-2"
    assert set(answer["problems"]) == {"title", "goal_type", "target_value"}
    assert chat.goals == before


async def test_widget_reference_progress_in_the_picker_follows_the_server(
    chat: ChatWidget,
) -> None:
    goal = await chat.create_goal_async(
        title="Stretch daily", goal_type="custom", target_value=10, target_unit="minutes"
    )
    assert chat.goal_id == goal.id
    assert chat.client is not None
    await chat.client.update_progress(goal.id, 4)  # from a notebook cell, say
    await chat.ask_async("How am I doing?")
    await until(
        lambda: next(g for g in chat.goals if g["id"] == goal.id)["progress"] == 40,
        "the picker's progress reloaded after the turn",
    )
