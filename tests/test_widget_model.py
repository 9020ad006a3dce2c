"""The ChatWidget model against an injected fake client: traits, deltas, snapshot, stop, retry, switching.

The fake stands in for ``LumeClient``/``Consultation`` exactly at the client API
(docs/architecture.md "Client API"), so these tests pin the widget's own behaviour; the
same behaviour over real loopback sockets is in test_widget_reference.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest

from lume_widget.core.events import (
    ChunkReceived,
    ConnectionStatus,
    Event,
    Reply,
    ReplyCompleted,
    StatusChanged,
    Tier,
    TierChanged,
    TurnFailed,
    UserMessageStored,
)
from lume_widget.core.models import ConsultationInfo, Goal, Message
from lume_widget.errors import (
    ConfigurationError,
    ConnectionFailedError,
    InvalidPersonaError,
    LumeError,
    TurnCancelledError,
)
from lume_widget.widget import ChatWidget
from lume_widget.widget import chat as chat_module

SECRETS = {
    "api_key": "sk-test-api-key-4242",
    "password": "hunter2-very-secret",
    "token": "eyJhbGciOiJIUzI1NiJ9.access.token",
    "admin_token": "admin-token-31337",
}


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Script:
    """What the fake consultation does for the next turn."""

    chunks: list[str] = field(default_factory=lambda: ["Hello", " there", "!"])
    gate: asyncio.Event | None = None  # when set, chunks after the first wait for it
    fail: LumeError | None = None
    store_user: bool = True


class FakeConsultation:
    def __init__(self, client: FakeClient, persona: str, goal_id: str | None, tier: str | None):
        self.client = client
        self.id = f"c-{len(client.opened)}-{persona}"
        self.persona = persona
        self.goal_id = goal_id
        self._tier = Tier(tier) if tier else Tier.LIVE
        self.pins: list[Any] = []
        self.drops = 0
        self.completed = False
        self.closed = False
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self.transcript_offset = 0  # the whole (short) history is held
        self.transcript = [
            Message(id=f"{self.id}-greet", role="assistant", content="Welcome", created_at=now())
        ]

    @property
    def tier(self) -> Tier:
        return self._tier

    @property
    def info(self) -> ConsultationInfo:
        status = "completed" if self.completed else "active"
        return ConsultationInfo(self.id, self.persona, status, goal_id=self.goal_id)

    @property
    def status(self) -> ConnectionStatus:
        return ConnectionStatus.CONNECTED

    async def history(self) -> list[Message]:
        return list(self.transcript)

    async def events(self) -> AsyncIterator[Event]:
        while True:
            event = await self._events.get()
            if isinstance(event, Exception):
                raise event
            yield event

    def emit(self, event: Event) -> None:
        self._events.put_nowait(event)

    def pin_tier(self, tier: Tier | str | None) -> None:
        self.pins.append(tier)

    async def simulate_live_drop(self) -> None:
        self.drops += 1
        change = TierChanged(Tier.REST, Tier.LIVE, "live socket dropped (simulated)", 0.0)
        self._tier = Tier.REST
        self.emit(change)

    async def complete(self) -> None:
        self.completed = True

    async def aclose(self) -> None:
        self.closed = True

    async def stream(self, text: str) -> AsyncIterator[Event]:
        script = self.client.script
        turn = f"turn-{len(self.client.sent)}"
        self.client.sent.append(text)
        if script.store_user:
            stored = Message(id=f"{turn}-u", role="user", content=text, created_at=now())
            yield UserMessageStored(stored, turn)
        if script.fail is not None and not script.chunks:
            yield TurnFailed(turn, script.fail, "")
            return
        for index, chunk in enumerate(script.chunks):
            if index == 1 and script.gate is not None:
                await script.gate.wait()
            yield ChunkReceived(turn, chunk, index, 0.0)
            await asyncio.sleep(0)
        if script.fail is not None:
            raise script.fail
        reply = Reply(
            text="".join(script.chunks),
            message_id=f"{turn}-a",
            consultation_id=self.id,
            user_message_id=f"{turn}-u",
            tier=self._tier,
            ttft_s=0.01,
            duration_s=0.02,
            chunks=len(script.chunks),
        )
        yield ReplyCompleted(reply)


class FakeClient:
    def __init__(self, *, reference: bool = True) -> None:
        self.reference = reference
        self.opened: list[dict[str, Any]] = []
        self.consultations: list[FakeConsultation] = []
        self.sent: list[str] = []
        self.script = Script()
        self.faults: dict[str, Any] = {}
        self.goals = [Goal(id="g-1", title="Sleep 8 hours", target_value=8, target_unit="hours")]

    @property
    def is_reference_server(self) -> bool:
        return self.reference

    async def list_goals(self) -> list[Goal]:
        return list(self.goals)

    async def open(
        self,
        persona: str = "general_wellness",
        goal_id: str | None = None,
        consultation_id: str | None = None,
        *,
        resume: bool = True,
        tier: Tier | str | None = None,
        **_: Any,
    ) -> FakeConsultation:
        self.opened.append(
            {
                "persona": persona,
                "goal_id": goal_id,
                "resume": resume,
                "tier": tier,
                "id": consultation_id,
            }
        )
        consultation = FakeConsultation(self, persona, goal_id, None if tier is None else str(tier))
        if consultation_id is not None:
            consultation.id = consultation_id
        self.consultations.append(consultation)
        return consultation

    async def list_consultations(
        self, status: str | None = None, persona: str | None = None
    ) -> list[ConsultationInfo]:
        infos = {c.id: c.info for c in self.consultations}  # the latest object of each id
        return [
            info
            for info in reversed(infos.values())
            if (status is None or info.status == status) and persona in (None, info.persona)
        ]

    async def get_faults(self) -> dict[str, Any]:
        return dict(self.faults)

    async def set_faults(self, **faults: Any) -> dict[str, Any]:
        self.faults.update(faults)
        return dict(self.faults)

    async def clear_faults(self) -> dict[str, Any]:
        self.faults = {}
        return {}

    async def aclose(self) -> None:
        pass


async def settle(predicate: Any, what: str) -> None:
    """Let the loop run until ``predicate()`` holds (events, not wall-clock sleeps)."""
    for _ in range(2000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")


def front_end(widget: ChatWidget, content: dict[str, Any]) -> None:
    """Deliver a custom message as the front end would."""
    widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
    )


def front_end_write(widget: ChatWidget, **state: Any) -> None:
    """Write traits as the front end would."""
    widget._handle_msg({"content": {"data": {"method": "update", "state": state}}, "buffers": []})


@pytest.fixture
def client() -> FakeClient:
    return FakeClient()


@pytest.fixture
async def widget(client: FakeClient) -> AsyncIterator[ChatWidget]:
    chat = ChatWidget(persona="wellness_specialist", client=client, **SECRETS)  # type: ignore[arg-type]
    await chat.ready()
    yield chat
    await chat.aclose()


async def test_widget_connects_and_shows_consultation(
    widget: ChatWidget, client: FakeClient
) -> None:
    assert widget.consultation_id == client.consultations[0].id
    # Nothing to resume that no other panel shows: a new consultation.
    assert client.opened == [
        {
            "persona": "wellness_specialist",
            "goal_id": None,
            "resume": False,
            "tier": None,
            "id": None,
        }
    ]
    assert [m["content"] for m in widget.messages] == ["Welcome"]
    assert widget.goals == [
        {
            "id": "g-1",
            "title": "Sleep 8 hours",
            "target": "8 hours",
            "progress": None,
            "status": None,
        }
    ]
    assert widget.server_kind == "reference"
    assert widget.input_enabled
    assert widget.input_disabled_reason == ""


async def test_widget_watcher_that_fails_says_so_in_the_panel(
    widget: ChatWidget, client: FakeClient
) -> None:
    client.consultations[0].emit(RuntimeError("mirror broke"))  # type: ignore[arg-type]
    for _ in range(100):
        if widget.error:
            break
        await asyncio.sleep(0.01)
    assert "stopped following the connection" in widget.error
    assert "mirror broke" in widget.error


async def test_widget_state_holds_no_secrets(widget: ChatWidget) -> None:
    await widget.ask_async("hello")
    state = json.dumps(widget.get_state(), default=str)
    for secret in SECRETS.values():
        assert secret not in state
        assert secret not in repr(widget)
        assert secret not in repr(vars(widget))


async def test_widget_ask_streams_deltas_and_lands_messages_once(
    widget: ChatWidget, client: FakeClient
) -> None:
    log = widget.record_comm()
    client.script = Script(chunks=["Sleep ", "is ", "good."])
    reply = await widget.ask_async("Help me sleep")
    assert reply.text == "Sleep is good."
    deltas = log.of_kind("delta")
    assert deltas, "the reply must stream as deltas"
    assert "".join(d.data["content"]["text"] for d in deltas) == "Sleep is good."
    assert [d.data["content"]["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    newest_updates = [r for r in log.records if r.method == "update" and "newest" in r.kind]
    assert len(newest_updates) == 1, "a finished turn moves the newest block once"
    opened = [r for r in log.records if r.method == "open"]
    assert len(opened) == 1, "a finished turn opens one block"
    assert [m["role"] for m in opened[0].data["state"]["messages"]] == ["user", "assistant"]
    assert widget.newest is not None
    assert widget.newest.messages == widget.messages[-2:]
    assert [m["role"] for m in widget.messages[-2:]] == ["user", "assistant"]
    assert widget.messages[-1]["metrics"]["tier"] == "live"
    assert widget.messages[-1]["status"] == "complete"
    assert widget.pending is None


async def test_widget_input_stays_enabled_while_reply_in_flight(
    widget: ChatWidget, client: FakeClient
) -> None:
    # The box stays editable so the next message can be drafted; `pending` tells the panel
    # that Enter must not send yet.
    gate = asyncio.Event()
    client.script = Script(chunks=["a", "b"], gate=gate)
    front_end(widget, {"type": "send", "text": "hi"})
    await settle(lambda: widget.pending is not None, "turn started")
    assert widget.pending["user_text"] == "hi"
    assert widget.input_enabled
    assert widget.input_disabled_reason == ""
    gate.set()
    await settle(lambda: widget.pending is None, "turn finished")
    assert widget.input_enabled
    assert widget.messages[-1]["content"] == "ab"


async def test_widget_late_view_gets_snapshot_then_newer_deltas(
    widget: ChatWidget, client: FakeClient
) -> None:
    log = widget.record_comm()
    gate = asyncio.Event()
    client.script = Script(chunks=["first ", "second"], gate=gate)
    front_end(widget, {"type": "send", "text": "hi"})
    await settle(lambda: log.of_kind("delta"), "first delta")
    front_end(widget, {"type": "sync_request"})
    await settle(lambda: log.of_kind("snapshot"), "snapshot")
    snapshot = log.of_kind("snapshot")[0].data["content"]
    assert snapshot["text"] == "first "
    assert snapshot["turn_id"] == widget.pending["turn_id"]
    gate.set()
    await settle(lambda: widget.pending is None, "turn finished")
    later = [
        d.data["content"]
        for d in log.of_kind("delta")
        if d.data["content"]["seq"] > snapshot["seq"]
    ]
    assert snapshot["text"] + "".join(d["text"] for d in later) == "first second"


async def test_widget_stop_keeps_partial_text_as_stopped_message(
    widget: ChatWidget, client: FakeClient
) -> None:
    gate = asyncio.Event()
    client.script = Script(chunks=["partial ", "never"], gate=gate)
    front_end(widget, {"type": "send", "text": "long please"})
    await settle(lambda: widget._coalescer.text == "partial ", "first chunk")
    front_end(widget, {"type": "stop"})
    await settle(lambda: widget.pending is None, "turn stopped")
    assert [m["role"] for m in widget.messages[-2:]] == ["user", "assistant"]
    stopped = widget.messages[-1]
    assert stopped["status"] == "stopped"
    assert stopped["content"] == "partial "
    assert stopped["metrics"]["chunks"] == 1
    assert widget.input_enabled
    assert widget.error == ""


async def ask_until_first_chunk(widget: ChatWidget, client: FakeClient) -> asyncio.Future[Any]:
    """Start ``ask_async`` on a reply that streams one chunk and then waits for ever."""
    client.script = Script(chunks=["partial ", "never"], gate=asyncio.Event())
    asking = asyncio.ensure_future(widget.ask_async("long please"))
    await settle(lambda: widget._coalescer.text == "partial ", "first chunk")
    return asking


async def test_widget_ask_stopped_from_the_panel_raises_turn_cancelled_with_the_partial_text(
    widget: ChatWidget, client: FakeClient
) -> None:
    asking = await ask_until_first_chunk(widget, client)
    front_end(widget, {"type": "stop"})
    with pytest.raises(TurnCancelledError) as stopped:
        await asking
    assert stopped.value.partial_text == "partial "
    assert widget.messages[-1]["status"] == "stopped"
    assert widget.input_enabled


async def test_widget_ask_cancelled_by_its_caller_stops_the_turn_and_stays_cancelled(
    widget: ChatWidget, client: FakeClient
) -> None:
    asking = await ask_until_first_chunk(widget, client)
    asking.cancel()  # an interrupted cell
    with pytest.raises(asyncio.CancelledError):
        await asking
    await settle(lambda: widget.pending is None, "turn stopped")
    assert widget.messages[-1]["status"] == "stopped"


async def test_widget_failed_send_keeps_text_for_retry(
    widget: ChatWidget, client: FakeClient
) -> None:
    failure = ConnectionFailedError("Lume could not be reached on any tier. Check the URL.")
    client.script = Script(chunks=[], fail=failure, store_user=False)
    with pytest.raises(ConnectionFailedError):
        await widget.ask_async("keep me")
    assert widget.unsent_text == "keep me"
    assert "could not be reached" in widget.error
    # The message stays in view, marked as not sent, with the time it was sent.
    assert [(m["content"], m["status"]) for m in widget.messages] == [
        ("Welcome", "complete"),
        ("keep me", "unsent"),
    ]
    client.script = Script(chunks=["ok"])
    front_end(widget, {"type": "retry"})
    await settle(lambda: len(client.sent) == 2 and widget.pending is None, "retried turn")
    await settle(lambda: widget.messages[-1]["content"] == "ok", "retried reply")
    assert client.sent == ["keep me", "keep me"]
    assert widget.unsent_text == ""
    assert widget.error == ""
    assert [m["status"] for m in widget.messages].count("unsent") == 0
    assert [m["content"] for m in widget.messages if m["role"] == "user"] == ["keep me"]


async def test_widget_error_mid_reply_keeps_partial_as_error_message(
    widget: ChatWidget, client: FakeClient
) -> None:
    client.script = Script(chunks=["half"], fail=LumeError("The reply timed out. Ask again."))
    with pytest.raises(LumeError):
        await widget.ask_async("go")
    assert widget.messages[-1]["status"] == "error"
    assert widget.messages[-1]["content"] == "half"
    assert widget.unsent_text == "", "the message was delivered, nothing to resend"
    assert widget.error == "The reply timed out. Ask again."


async def test_widget_persona_switch_resumes_matching_consultation(
    widget: ChatWidget, client: FakeClient
) -> None:
    front_end_write(widget, persona="nutritionist", goal_id="g-1")
    await settle(lambda: widget.consultation_id.endswith("nutritionist"), "switched")
    assert client.opened[-1] == {
        "persona": "nutritionist",
        "goal_id": "g-1",
        "resume": False,
        "tier": None,
        "id": None,
    }
    assert client.consultations[0].closed
    assert widget.input_enabled
    # Switching back resumes the first one (no other panel holds it), by id.
    first = client.consultations[0].id
    front_end_write(widget, persona="wellness_specialist", goal_id="")
    await settle(lambda: widget.consultation_id == first, "switched back")
    assert client.opened[-1]["id"] == first
    assert client.opened[-1]["resume"] is True


async def test_widget_switch_waits_for_consultation(widget: ChatWidget, client: FakeClient) -> None:
    await widget.switch_async(persona="fitness_coach")
    assert widget.consultation is not None
    assert widget.consultation.persona == "fitness_coach"
    reply = await widget.ask_async("plan my week")
    assert reply.consultation_id == widget.consultation_id


async def test_widget_unknown_persona_from_front_end_is_refused(widget: ChatWidget) -> None:
    front_end_write(widget, persona="sleep_coach")
    assert widget.persona == "wellness_specialist"
    assert "Unknown persona" in widget.error


async def test_widget_pinned_tier_reaches_consultation(
    widget: ChatWidget, client: FakeClient
) -> None:
    front_end_write(widget, pinned_tier="rest")
    await settle(lambda: client.consultations[0].pins == ["rest"], "pinned")
    front_end_write(widget, pinned_tier="")
    await settle(lambda: client.consultations[0].pins == ["rest", None], "unpinned")


async def test_widget_tier_badge_follows_events(widget: ChatWidget, client: FakeClient) -> None:
    front_end(widget, {"type": "simulate_drop"})
    await settle(lambda: widget.tier == "rest", "tier change")
    assert "simulated" in widget.tier_reason
    client.consultations[0].emit(
        StatusChanged(
            ConnectionStatus.OFFLINE, ConnectionStatus.CONNECTED, "every tier failed", 0.0
        )
    )
    await settle(lambda: widget.status == "offline", "offline")
    assert widget.status_reason == "every tier failed"
    assert widget.input_enabled  # the next message is what tries again


async def test_widget_set_faults_on_reference_server(
    widget: ChatWidget, client: FakeClient
) -> None:
    front_end(widget, {"type": "set_faults", "faults": {"refuse_ws_upgrade": 503}})
    await settle(lambda: widget.faults == {"refuse_ws_upgrade": 503}, "faults set")
    front_end(widget, {"type": "set_faults", "faults": {}})
    await settle(lambda: widget.faults == {}, "faults cleared")


async def test_widget_set_faults_refused_on_remote_backend() -> None:
    client = FakeClient(reference=False)
    chat = ChatWidget(client=client)  # type: ignore[arg-type]
    await chat.ready()
    front_end(chat, {"type": "set_faults", "faults": {"legacy_down": True}})
    await settle(lambda: "reference server" in chat.error, "refusal shown")
    assert client.faults == {}
    await chat.aclose()


async def test_widget_new_consultation_completes_old_one(
    widget: ChatWidget, client: FakeClient
) -> None:
    front_end(widget, {"type": "new_consultation"})
    await settle(lambda: len(client.opened) == 2, "new consultation")
    await settle(lambda: widget.consultation_id == client.consultations[1].id, "shown")
    assert client.consultations[0].completed
    assert client.opened[-1]["resume"] is False


async def test_widget_send_while_streaming_is_refused(
    widget: ChatWidget, client: FakeClient
) -> None:
    gate = asyncio.Event()
    client.script = Script(chunks=["a", "b"], gate=gate)
    front_end(widget, {"type": "send", "text": "one"})
    await settle(lambda: widget.pending is not None, "first turn")
    front_end(widget, {"type": "send", "text": "two"})
    await settle(lambda: "still streaming" in widget.error, "refusal")
    gate.set()
    await settle(lambda: widget.pending is None, "first turn done")
    assert client.sent == ["one"]


async def test_widget_connection_failure_shows_error_and_retry_reconnects() -> None:
    class FlakyClient(FakeClient):
        failures = 1

        async def open(self, *args: Any, **kwargs: Any) -> FakeConsultation:
            if self.failures:
                self.failures -= 1
                raise ConnectionFailedError("Lume could not be reached. Is the server running?")
            return await super().open(*args, **kwargs)

    client = FlakyClient()
    chat = ChatWidget(client=client)  # type: ignore[arg-type]
    with pytest.raises(ConnectionFailedError):
        await chat.ready()
    assert chat.status == "error"
    assert "could not be reached" in chat.error
    assert not chat.input_enabled
    front_end(chat, {"type": "retry"})
    await settle(lambda: chat.consultation_id != "", "reconnected")
    assert chat.input_enabled
    await chat.aclose()


def test_widget_ask_blocks_in_plain_script() -> None:
    client = FakeClient()
    chat = ChatWidget(client=client)  # type: ignore[arg-type]
    assert chat._runner.private
    reply = chat.ask("hello from a script")
    assert reply.text == "Hello there!"
    assert chat.messages[-1]["content"] == "Hello there!"
    chat.close()


def test_widget_rejects_unknown_persona_and_tier() -> None:
    with pytest.raises(InvalidPersonaError, match="choose one of"):
        ChatWidget(persona="sleep_coach", client=FakeClient())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="pin one of"):
        ChatWidget(tier="carrier-pigeon", client=FakeClient())  # type: ignore[arg-type]


def test_widget_missing_bundle_says_to_run_setup(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setattr(chat_module, "BUNDLE_JS", tmp_path / "widget.js")
    with pytest.raises(ConfigurationError, match=r"scripts/setup\.sh"):
        ChatWidget(client=FakeClient())  # type: ignore[arg-type]
