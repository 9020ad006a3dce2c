"""The runner's scheduling rules on an injected in-memory client: order, width, errors, rate limits, cleanup, resume."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from lume_widget.core.events import ChunkReceived, Reply, ReplyCompleted, Tier
from lume_widget.core.models import Goal
from lume_widget.core.settings import Settings
from lume_widget.errors import (
    ConfigurationError,
    RateLimitedError,
    ServerError,
    TooManyConsultationsError,
)
from lume_widget.evaluation.limiter import AdaptiveLimiter
from lume_widget.evaluation.records import read_records
from lume_widget.evaluation.runner import Runner, RunOptions
from lume_widget.evaluation.scenarios import parse_scenarios


class FakeChat:
    def __init__(self, client: FakeClient, persona: str, goal_id: str | None) -> None:
        self.client = client
        self.id = str(uuid.uuid4())
        self.persona = persona
        self.goal_id = goal_id
        self.asked: list[str] = []
        self.closed_as: str | None = None

    async def ask(
        self, text: str, *, on_chunk: Callable[[ChunkReceived], None] | None = None
    ) -> Reply:
        self.asked.append(text)
        self.client.turn_log.append((self.id, text))
        await self.client.gate.wait()
        await asyncio.sleep(0)
        if text.startswith("boom"):
            raise ServerError("the server failed (500); try again later", status=500)
        if text.startswith("rate") and self.client.rate_limits_left > 0:
            self.client.rate_limits_left -= 1
            raise RateLimitedError("rate limited", status=429, retry_after=0.001, unsent_text=text)
        reply = f"echo {text} goal={self.goal_id}"
        if on_chunk is not None:
            for index, piece in enumerate(("echo ", reply[5:])):
                on_chunk(ChunkReceived(turn_id="t", text=piece, index=index, at=index * 0.01))
        return Reply(
            text=reply,
            message_id=str(uuid.uuid4()),
            consultation_id=self.id,
            user_message_id=None,
            tier=Tier.LIVE,
            ttft_s=0.01,
            duration_s=0.02,
            chunks=3,
            metadata={"processing_time_ms": 5},
        )

    async def stream(self, text: str) -> AsyncIterator[ChunkReceived | ReplyCompleted]:
        reply = await self.ask(text)
        for index, piece in enumerate(("echo ", reply.text[5:])):
            yield ChunkReceived(turn_id="t", text=piece, index=index, at=index * 0.01)
        yield ReplyCompleted(reply)

    async def complete(self) -> None:
        if self.client.cleanup_refusals:
            status = self.client.cleanup_refusals.pop(0)
            if status == 429:
                raise RateLimitedError("rate limited", status=429, retry_after=0.002)
            raise ServerError("unavailable", status=status)
        self.closed_as = "completed"
        self.client.active -= 1

    async def delete(self) -> None:
        self.closed_as = "deleted"
        self.client.active -= 1

    async def aclose(self) -> None:
        return None


class FakeClient:
    url = "http://127.0.0.1:1/"
    settings = Settings().scaled(0.01)

    def __init__(self, *, max_active: int = 10, refuse_creates: int = 0) -> None:
        self.chats: list[FakeChat] = []
        self.active = 0
        self.peak = 0
        self.max_active = max_active
        self.refuse_creates = refuse_creates
        self.rate_limits_left = 0
        self.cleanup_refusals: list[int] = []
        """Statuses that completing a consultation answers first, one per attempt."""
        self.goals: list[Goal] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.turn_log: list[tuple[str, str]] = []

    async def list_goals(self) -> list[Goal]:
        return list(self.goals)

    async def create_goal(self, **fields: Any) -> Goal:
        goal = Goal(
            id=str(uuid.uuid4()),
            title=fields["title"],
            target_value=fields.get("target_value"),
            target_unit=fields.get("target_unit"),
        )
        self.goals.append(goal)
        return goal

    async def open(
        self, persona: str = "general_wellness", goal_id: str | None = None, **options: Any
    ) -> FakeChat:
        assert options["resume"] is False
        if self.refuse_creates > 0:
            self.refuse_creates -= 1
            raise TooManyConsultationsError("too many active consultations (max 10)", status=429)
        if self.active >= self.max_active:
            raise TooManyConsultationsError("too many active consultations (max 10)", status=429)
        chat = FakeChat(self, persona, goal_id)
        self.chats.append(chat)
        self.active += 1
        self.peak = max(self.peak, self.active)
        return chat


SCENARIOS = """
goals:
  g: {title: Run 5k, target_value: 5, target_unit: km}
scenarios:
  - name: plain
    persona: all
    repeat: 3
    turns:
      - say: one
        expect: {icontains: [echo one]}
      - say: two
        expect: {icontains: [never there]}
  - name: goal
    goal: g
    turns:
      - say: hello
        expect: {regex: "goal=[0-9a-f-]{36}"}
"""


async def run(client: FakeClient, text: str, tmp_path: Path, **options: Any) -> Any:
    runner = Runner(
        client, parse_scenarios(text), RunOptions(out_dir=tmp_path, **options), sleep=_no_sleep
    )
    return await runner.run()


async def _no_sleep(_delay: float) -> None:
    await asyncio.sleep(0)


async def test_runner_runs_turns_in_order_and_judges_them(tmp_path: Path) -> None:
    client = FakeClient()
    outcome = await run(client, SCENARIOS, tmp_path, concurrency=3)
    records = read_records(tmp_path / "transcripts.jsonl")
    assert len(records) == 4 * 3 * 2 + 1 == len(outcome.records)
    for chat in client.chats:
        assert chat.asked in (["one", "two"], ["hello"])
        assert chat.closed_as == "completed"
    by_turn = {(r.scenario, r.turn): r.outcome for r in records}
    assert by_turn == {("plain", 0): "passed", ("plain", 1): "failed", ("goal", 0): "passed"}
    goal_record = next(r for r in records if r.scenario == "goal")
    assert goal_record.goal == "g"
    assert goal_record.goal_id == client.goals[0].id
    assert goal_record.server_ms == 5.0
    assert goal_record.tier == "live"
    assert goal_record.last


async def test_runner_keeps_within_concurrency(tmp_path: Path) -> None:
    client = FakeClient()
    await run(client, SCENARIOS, tmp_path, concurrency=2)
    assert client.peak == 2


async def test_runner_caps_concurrency_at_the_active_consultation_limit(tmp_path: Path) -> None:
    client = FakeClient(max_active=10)
    outcome = await run(client, SCENARIOS, tmp_path, concurrency=32)
    assert client.peak <= 10
    assert any("above the backend's limit of 10" in note for note in outcome.notes)
    assert all(r.error is None for r in outcome.records)


async def test_runner_error_ends_one_conversation_only(tmp_path: Path) -> None:
    text = """
    scenarios:
      - {name: bad, turns: [{say: first}, {say: boom now}, {say: never sent}]}
      - {name: good, repeat: 4, turns: [{say: fine}]}
    """
    client = FakeClient()
    outcome = await run(client, text, tmp_path, concurrency=2)
    bad = [r for r in outcome.records if r.scenario == "bad"]
    assert [(r.turn, r.outcome) for r in bad] == [(0, "passed"), (1, "error")]
    assert bad[1].passed is None
    assert bad[1].error_type == "ServerError"
    assert bad[1].last
    assert "500" in (bad[1].error or "")
    assert [r.outcome for r in outcome.records if r.scenario == "good"] == ["passed"] * 4
    assert "never sent" not in [text for _, text in client.turn_log]
    assert all(chat.closed_as == "completed" for chat in client.chats)


async def test_runner_cleanup_retries_through_rate_limits_until_completed(
    tmp_path: Path,
) -> None:
    client = FakeClient()
    client.cleanup_refusals = [429, 429, 503, 429, 429, 429, 429]  # past the REST retry budget
    text = "scenarios:\n  - {name: r, turns: [{say: hello}]}\n"
    outcome = await run(client, text, tmp_path)
    assert [r.outcome for r in outcome.records] == ["passed"]
    assert client.cleanup_refusals == []
    assert [chat.closed_as for chat in client.chats] == ["completed"]
    assert client.active == 0


async def test_runner_cleanup_gives_up_after_a_turn_deadline(tmp_path: Path) -> None:
    client = FakeClient()
    client.cleanup_refusals = [503] * 1000
    now = [0.0]
    waits: list[float] = []

    async def sleep(delay: float) -> None:
        waits.append(delay)
        now[0] += delay
        await asyncio.sleep(0)

    text = "scenarios:\n  - {name: r, turns: [{say: hello}]}\n"
    runner = Runner(
        client,
        parse_scenarios(text),
        RunOptions(out_dir=tmp_path),
        clock=lambda: now[0],
        sleep=sleep,
    )
    outcome = await runner.run()
    assert [r.outcome for r in outcome.records] == ["passed"]
    assert [chat.closed_as for chat in client.chats] == [None]  # left active, and said so
    # tried until a turn's deadline, twice: at the conversation's end and at the run's end
    assert client.settings.turn_deadline_s < sum(waits) <= 2 * client.settings.turn_deadline_s
    assert 1000 - len(client.cleanup_refusals) == len(waits) + 2


async def test_runner_retries_undelivered_turns_after_rate_limits(tmp_path: Path) -> None:
    client = FakeClient()
    client.rate_limits_left = 3
    text = "scenarios:\n  - {name: r, repeat: 4, turns: [{say: rate me}]}\n"
    outcome = await run(client, text, tmp_path, concurrency=4)
    assert [r.outcome for r in outcome.records] == ["passed"] * 4
    assert outcome.rate_limits == 3
    assert outcome.lowest_concurrency < 4


async def test_runner_narrows_when_the_backend_refuses_new_consultations(tmp_path: Path) -> None:
    client = FakeClient(refuse_creates=2)
    text = "scenarios:\n  - {name: r, repeat: 3, turns: [{say: hi}]}\n"
    outcome = await run(client, text, tmp_path, concurrency=3)
    assert [r.outcome for r in outcome.records] == ["passed"] * 3


async def test_runner_gives_up_on_creates_after_its_attempts(tmp_path: Path) -> None:
    client = FakeClient(refuse_creates=100)
    text = "scenarios:\n  - {name: r, turns: [{say: hi}, {say: again}]}\n"
    outcome = await run(client, text, tmp_path, concurrency=1, max_attempts=2)
    [record] = outcome.records
    assert record.outcome == "error"
    assert record.error_type == "TooManyConsultationsError"
    assert record.consultation_id is None
    assert record.last


async def test_runner_keep_leaves_consultations_active(tmp_path: Path) -> None:
    client = FakeClient()
    text = "scenarios:\n  - {name: r, repeat: 2, turns: [{say: hi}]}\n"
    outcome = await run(client, text, tmp_path, cleanup="keep")
    assert all(chat.closed_as is None for chat in client.chats)
    assert outcome.left_open == []
    assert len(outcome.created) == 2


async def test_runner_keep_refuses_more_conversations_than_the_backend_allows(
    tmp_path: Path,
) -> None:
    text = "scenarios:\n  - {name: r, repeat: 11, turns: [{say: hi}]}\n"
    with pytest.raises(ConfigurationError, match="--keep leaves every consultation active"):
        await run(FakeClient(), text, tmp_path, cleanup="keep")


async def test_runner_delete_cleanup(tmp_path: Path) -> None:
    client = FakeClient()
    await run(client, "scenarios:\n  - {name: r, turns: [{say: hi}]}\n", tmp_path, cleanup="delete")
    assert [chat.closed_as for chat in client.chats] == ["deleted"]


async def test_runner_refuses_to_overwrite_a_run(tmp_path: Path) -> None:
    text = "scenarios:\n  - {name: r, turns: [{say: hi}]}\n"
    await run(FakeClient(), text, tmp_path)
    with pytest.raises(ConfigurationError, match="pass --resume"):
        await run(FakeClient(), text, tmp_path)


async def test_runner_resume_skips_complete_and_reruns_partial_conversations(
    tmp_path: Path,
) -> None:
    text = "scenarios:\n  - {name: r, repeat: 3, turns: [{say: a}, {say: b}]}\n"
    transcripts = tmp_path / "transcripts.jsonl"
    await run(FakeClient(), text, tmp_path)
    lines = transcripts.read_text().splitlines()
    # As if killed: repeat 2 got only its first turn, and a line was cut in half.
    kept = [
        line
        for line in lines
        if not (json.loads(line)["repeat"] == 2 and json.loads(line)["turn"] == 1)
    ]
    transcripts.write_text("\n".join(kept) + "\n" + kept[0][:20])
    client = FakeClient()
    outcome = await run(client, text, tmp_path, resume=True)
    assert len(client.chats) == 1
    assert client.chats[0].asked == ["a", "b"]
    records = read_records(transcripts)
    assert sorted((r.repeat, r.turn) for r in records) == [
        (i, t) for i in range(3) for t in range(2)
    ]
    assert len(outcome.records) == 6
    assert outcome.resumed_conversations == 2


async def test_runner_persona_filter_that_matches_nothing_is_a_usage_error(tmp_path: Path) -> None:
    text = "scenarios:\n  - {name: r, persona: nutritionist, turns: [{say: hi}]}\n"
    with pytest.raises(ConfigurationError, match="no scenario uses the persona"):
        await run(FakeClient(), text, tmp_path, personas=["fitness_coach"])


async def test_runner_progress_reaches_the_total(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    await run(
        FakeClient(),
        "scenarios:\n  - {name: r, repeat: 2, turns: [{say: hi}, {say: boom}, {say: x}]}\n",
        tmp_path,
        progress=lambda p: seen.append((p.turns_done + p.skipped, p.turns_total)),
    )
    assert seen[-1] == (6, 6)


async def test_limiter_halves_once_per_window_and_recovers() -> None:
    now = [0.0]
    limiter = AdaptiveLimiter(8, clock=lambda: now[0], sleep=_no_sleep)
    limiter.rate_limited(2.0)
    limiter.rate_limited(2.0)
    assert limiter.limit == 4
    assert limiter.paused_for == 2.0
    assert limiter.rate_limits == 2
    now[0] = 3.0
    limiter.rate_limited(1.0)
    assert limiter.limit == 2
    assert limiter.lowest == 2
    for _ in range(40):
        await limiter.succeeded()
    assert limiter.limit == 8


async def test_limiter_waits_for_a_free_slot() -> None:
    limiter = AdaptiveLimiter(1)
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    assert not waiter.done()
    await limiter.release()
    await asyncio.wait_for(waiter, 1)
    assert limiter.active == 1


async def test_runner_resume_closes_what_a_killed_run_left_active(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from lume_widget.core.models import ConsultationInfo
    from lume_widget.evaluation.records import ConsultationLog

    text = "scenarios:\n  - {name: r, repeat: 2, turns: [{say: a}]}\n"
    client = FakeClient()
    # A logged consultation never closed, and a create in flight when the run died.
    logged = await client.open(persona="general_wellness", resume=False)
    orphan = await client.open(persona="general_wellness", resume=False)
    users_own = ConsultationInfo(
        id="users-own",
        persona="general_wellness",
        status="active",
        message_count=6,
        created_at=datetime.now(timezone.utc),
    )
    log = ConsultationLog(tmp_path / "consultations.jsonl")
    log.opening(("r", "general_wellness", 0))
    log.created(logged.id, ("r", "general_wellness", 0))
    log.opening(("r", "general_wellness", 1))
    log.close()

    async def list_consultations(
        status: str | None = None, persona: str | None = None
    ) -> list[Any]:
        now = datetime.now(timezone.utc)
        return [
            ConsultationInfo(id=chat.id, persona=chat.persona, status="active", created_at=now)
            for chat in (logged, orphan)
        ] + [users_own]

    async def reopen(consultation_id: str | None = None, **options: Any) -> FakeChat:
        return next(chat for chat in (logged, orphan) if chat.id == consultation_id)

    client.list_consultations = list_consultations  # type: ignore[attr-defined]
    original_open = client.open

    async def open_any(
        persona: str = "general_wellness", goal_id: str | None = None, **options: Any
    ) -> FakeChat:
        if options.get("consultation_id"):
            return await reopen(**options)
        return await original_open(persona, goal_id, **options)

    client.open = open_any  # type: ignore[method-assign]
    await run(client, text, tmp_path, resume=True)
    assert logged.closed_as == "completed"
    assert orphan.closed_as == "completed"
    assert ConsultationLog.still_open(tmp_path / "consultations.jsonl") == []


async def test_runner_concurrency_recovers_after_rate_limits_stop(tmp_path: Path) -> None:
    client = FakeClient()
    client.rate_limits_left = 2
    text = "scenarios:\n  - {name: r, repeat: 40, turns: [{say: rate me}]}\n"
    outcome = await run(client, text, tmp_path, concurrency=4)
    assert outcome.lowest_concurrency < 4
    assert outcome.final_concurrency == 4
    assert all(r.outcome == "passed" for r in outcome.records)
