"""The evaluation runner: conversations in parallel, turns in order, each turn judged, timed and written down.

Theory of operation. A scenario file expands into conversations (scenario x persona x
repeat). Each conversation takes a slot from an :class:`AdaptiveLimiter`, opens a fresh
consultation (tied to its goal when it has one), asks its turns in order on that one
consultation, judges each reply and appends the record to ``transcripts.jsonl`` at once.
When it ends, its consultation is completed (or deleted, or kept on request) before the
slot is released, so the run never holds more than ``concurrency`` consultations active:
the backend allows 10 per user, and the ceiling is capped there.

Nothing one conversation does stops another: an exception ends that conversation with an
``error`` record (errors are their own outcome, not failures). Rate limits (429 or 503
with Retry-After) shrink the concurrency and pause new work for the wait the server asked
for; a turn whose message was not delivered is tried again, a turn that may have been
delivered never is (that would duplicate the message).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from lume_widget.core.events import ChunkReceived, ReplyCompleted, TurnFailed
from lume_widget.errors import (
    ConfigurationError,
    LumeError,
    RateLimitedError,
)
from lume_widget.evaluation.chatmodel import ModelCallError
from lume_widget.evaluation.expectations import check_conversation, check_turn
from lume_widget.evaluation.judge import Exchange, Judge
from lume_widget.evaluation.keeper import ConsultationKeeper
from lume_widget.evaluation.limiter import AdaptiveLimiter
from lume_widget.evaluation.options import (
    MAX_ACTIVE_CONSULTATIONS,
    Cleanup,
    Progress,
    RunOptions,
    RunOutcome,
)
from lume_widget.evaluation.records import (
    CONSULTATIONS_FILE,
    TRANSCRIPTS_FILE,
    ConsultationLog,
    TranscriptWriter,
    TurnRecord,
    read_records,
    split_complete,
    valid_text,
)
from lume_widget.evaluation.scenarios import Conversation, GoalSpec, Rubric, ScenarioFile
from lume_widget.evaluation.simulator import Simulator
from lume_widget.evaluation.stats import percentile
from lume_widget.evaluation.verdicts import Verdicts, add_verdict, verdict_of

if TYPE_CHECKING:
    from lume_widget.client import Consultation, LumeClient
    from lume_widget.core.events import Reply

__all__ = ["MAX_ACTIVE_CONSULTATIONS", "Cleanup", "Progress", "RunOptions", "RunOutcome", "Runner"]

logger = logging.getLogger(__name__)


class _ConversationError(Exception):
    """Ends a conversation: ``error`` (None when ``record`` already says what went wrong) at ``turn``."""

    def __init__(
        self, error: BaseException | None, turn: int, record: TurnRecord | None = None
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.turn = turn
        self.record = record


class Runner:
    """Runs the conversations of a scenario file against one connected :class:`LumeClient`."""

    def __init__(
        self,
        client: LumeClient,
        scenarios: ScenarioFile,
        options: RunOptions,
        *,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], Any] = asyncio.sleep,
        judge: Judge | None = None,
        simulator: Simulator | None = None,
    ) -> None:
        self.client = client
        self.judge = judge
        self.simulator = simulator
        self.scenarios = scenarios
        self.options = options
        self._clock = clock
        self._sleep = sleep
        self.notes: list[str] = []
        ceiling = options.concurrency
        if options.cleanup != "keep" and ceiling > options.max_active:
            self.notes.append(
                f"concurrency {ceiling} is above the backend's limit of {options.max_active} active"
                f" consultations per user; running {options.max_active} at a time (each"
                " consultation is completed as soon as its conversation ends)"
            )
            ceiling = options.max_active
        self.limiter = AdaptiveLimiter(ceiling, clock=clock, sleep=sleep)
        self._writer: TranscriptWriter | None = None
        self.keeper = ConsultationKeeper(
            client,
            options,
            self.limiter,
            rate_limited=self._rate_limited,
            active_changed=self._set_active,
            watching=lambda: self.watching,
            clock=clock,
            sleep=sleep,
        )
        self._goal_ids: dict[str, str | BaseException] = {}
        self._progress: Progress | None = None
        self.verdicts = Verdicts(judge)
        self.watching = False
        """True once a transport reports every 429 itself (see :mod:`.watch`)."""

    # -- the run ---------------------------------------------------------------------------

    async def run(self) -> RunOutcome:
        options = self.options
        out = options.out_dir
        transcripts = out / TRANSCRIPTS_FILE
        conversations = self.scenarios.conversations(
            repeat=options.repeat, personas=options.personas
        )
        if self.scenarios.needs_judge() and self.judge is None:
            raise ConfigurationError(
                "this scenario file has rubric checks; give a judge model (--judge-url and"
                " --judge-model, or $LUME_JUDGE_URL and $LUME_JUDGE_MODEL)"
            )
        if self.scenarios.needs_simulator() and self.simulator is None:
            raise ConfigurationError(
                "this scenario file has simulated users; give a simulator or judge model"
                " (--judge-url and --judge-model, or $LUME_JUDGE_URL and $LUME_JUDGE_MODEL)"
            )
        if options.personas and not conversations:
            raise ConfigurationError(
                f"no scenario uses the persona(s) {', '.join(options.personas)};"
                " check --persona against the scenario file"
            )
        kept: list[TurnRecord] = []
        done: set[tuple[str, str, int]] = set()
        if options.resume:
            kept, done = split_complete(read_records(transcripts))
            await self.keeper.close_leftovers(out / CONSULTATIONS_FILE)
        elif transcripts.exists() and transcripts.stat().st_size > 0:
            raise ConfigurationError(
                f"{out} already holds a run ({TRANSCRIPTS_FILE}); pass --resume to continue it"
                " or choose another --out directory"
            )
        todo = [conversation for conversation in conversations if conversation.key not in done]
        self._check_keep(len(todo))
        wanted = {conversation.key for conversation in conversations}
        kept = [record for record in kept if record.key in wanted]
        self._progress = progress = Progress(
            conversations_total=len(conversations),
            turns_total=sum(c.scenario.planned_turns for c in conversations),
            concurrency=self.limiter.limit,
        )
        for record in kept:
            self._count(record, progress)
        progress.conversations_done = progress.resumed = len(done & wanted)
        self._report()

        started_at = datetime.now(timezone.utc).isoformat()
        start = self._clock()
        self._writer = TranscriptWriter(transcripts, keep=kept if options.resume else [])
        self.keeper.log = log = ConsultationLog(out / CONSULTATIONS_FILE)
        new_records: list[TurnRecord] = []
        try:
            await self._prepare_goals(todo)
            results = await asyncio.gather(
                *(self._run_guarded(conversation) for conversation in todo)
            )
            for records in results:
                new_records.extend(records)
        finally:
            await asyncio.shield(self.keeper.close_all())
            self._writer.close()
            log.close()
            self.keeper.log = None
        wall = self._clock() - start
        left_open = list(self.keeper.open_chats)
        return RunOutcome(
            records=kept + new_records,
            conversations=conversations,
            started_at=started_at,
            wall_s=wall,
            concurrency=options.concurrency,
            lowest_concurrency=self.limiter.lowest,
            final_concurrency=self.limiter.limit,
            rate_limits=self.limiter.rate_limits,
            created=list(self.keeper.created),
            left_open=left_open,
            cleanup=options.cleanup,
            resumed_conversations=len(done & wanted),
            turns_this_run=len(new_records),
            notes=self.notes,
        )

    def _check_keep(self, count: int) -> None:
        if self.options.cleanup == "keep" and count > self.options.max_active:
            raise ConfigurationError(
                f"--keep leaves every consultation active, but this run has {count} conversations"
                f" and the backend allows {self.options.max_active} active per user; run fewer"
                " (--persona, --repeat) or drop --keep"
            )

    async def _prepare_goals(self, conversations: Sequence[Conversation]) -> None:
        """Create each goal the conversations need once, reusing a matching goal already on the server."""
        needed = {c.scenario.goal: c.goal for c in conversations if c.scenario.goal and c.goal}
        if not needed:
            return
        try:
            existing = await self.client.list_goals()
        except LumeError as exc:
            logger.warning("could not list goals, creating them all: %s", exc)
            existing = []
        for key, spec in needed.items():
            match = next((goal for goal in existing if _same_goal(goal, spec)), None)
            if match is not None:
                self._goal_ids[key] = match.id
                continue
            try:
                goal = await self._retrying(
                    lambda spec=spec: self.client.create_goal(  # type: ignore[misc]
                        **spec.create_arguments()
                    )
                )
                self._goal_ids[key] = goal.id
            except LumeError as exc:
                self._goal_ids[key] = exc

    # -- one conversation ------------------------------------------------------------------

    async def _run_guarded(self, conversation: Conversation) -> list[TurnRecord]:
        await self.limiter.acquire()
        self._set_active()
        try:
            return await self._run_conversation(conversation)
        finally:
            await self.limiter.release()
            self._set_active()

    async def _run_conversation(self, conversation: Conversation) -> list[TurnRecord]:
        scenario = conversation.scenario
        records: list[TurnRecord] = []
        chat: Consultation | None = None
        goal_id: str | None = None
        # A simulated turn's record waits until the simulator has said whether it was the last.
        held: TurnRecord | None = None
        # Records written in turn order once their rubric is judged; the judge works on one
        # turn while the persona answers the next (a verdict never changes what is asked).
        queue: list[TurnRecord] = []
        base = 0  # the record number of the first scripted turn: 1 after an initial message
        try:
            if scenario.goal is not None:
                goal = self._goal_ids.get(scenario.goal)
                if isinstance(goal, BaseException):
                    raise _ConversationError(goal, 0)
                goal_id = goal
            opened_at = self._clock()
            try:
                chat = await self.keeper.open(conversation, goal_id)
            except Exception as exc:
                raise _ConversationError(exc, 0) from exc
            exchanges: list[Exchange] = []
            if scenario.initial_message is not None:
                record = await self._initial_record(conversation, chat, goal_id, opened_at)
                exchanges += [Exchange("user", record.say), Exchange("coach", record.reply)]
                records.append(record)
                queue.append(record)
                self.verdicts.write_ready(queue, self._emit)
                base = 1
            index = 0
            while True:
                say, simulated, simulator_tokens = await self._next_message(
                    conversation, index, exchanges
                )
                if held is not None:
                    if say is None:
                        held.ended_by = "simulator"
                        held.simulator_tokens += simulator_tokens
                        finishing, held = held, None
                        await self.verdicts.write_all(queue, self._emit)
                        await self._finish_record(finishing, conversation, records, exchanges)
                        break
                    queue.append(held)
                    held = None
                    self.verdicts.write_ready(queue, self._emit)
                if say is None:
                    raise _ConversationError(
                        ModelCallError(
                            "the simulated user ended the conversation before its first message"
                        ),
                        0,
                    )
                record = self._new_record(conversation, base + index, say, goal_id, chat.id)
                record.simulated = simulated
                record.simulator_tokens = simulator_tokens
                try:
                    await self.limiter.wait_unpaused()
                    start = self._clock()
                    reply, chunk_times = await self._ask(chat, say)
                    record.wall_s = round(self._clock() - start, 6)
                except Exception as exc:
                    raise _ConversationError(exc, index, record) from exc
                _fill(record, reply, chunk_times)
                expect = conversation.expect_for(index)
                record.failures = check_turn(record, expect.checks())
                exchanges += [Exchange("user", say), Exchange("coach", reply.text)]
                if expect.rubric is not None:
                    self.verdicts.start(record, conversation, expect.rubric, exchanges)
                records.append(record)
                await self.limiter.succeeded()
                ended_by = await self._ended_by(conversation, index, record, exchanges)
                if ended_by is not None:
                    record.ended_by = ended_by
                    if ended_by == "error":
                        records.pop()
                        raise _ConversationError(None, index, record)
                    await self.verdicts.write_all(queue, self._emit)
                    await self._finish_record(record, conversation, records, exchanges)
                    break
                if scenario.simulated_user is None:
                    queue.append(record)
                    self.verdicts.write_ready(queue, self._emit)
                else:
                    held = record
                index += 1
        except _ConversationError as failure:
            error = failure.error
            record = (
                failure.record
                or held
                or self._new_record(
                    conversation,
                    base + failure.turn,
                    "",
                    goal_id,
                    None if chat is None else chat.id,
                )
            )
            if error is not None:
                record.error = _describe(error)
                record.error_type = type(error).__name__
                partial = getattr(error, "partial_text", None)
                if partial or not record.reply:
                    record.reply = partial or ""
            record.ended_by = "error"
            record.last = True
            if scenario.simulated_user is not None:
                record.turns_total = record.turn + 1
            if not any(kept is record for kept in records):
                records.append(record)
            await self.verdicts.write_all(queue, self._emit)
            await self.verdicts.settle(record)
            self._emit(record)
        finally:
            self.verdicts.cancel(records)
            if chat is not None:
                await self.keeper.release(chat)
            if scenario.simulated_user is not None and self._progress is not None:
                # It was planned at max_turns; it had as many as it took.
                unused = scenario.planned_turns - len(records)
                self._progress.turns_total -= max(0, unused)
                self._report()
        return records

    async def _initial_record(
        self,
        conversation: Conversation,
        chat: Consultation,
        goal_id: str | None,
        opened_at: float,
    ) -> TurnRecord:
        """Turn 0: the answer to the scenario's ``initial_message``, a reply of its own
        (``Consultation.initial_reply``), timed from the create request."""
        say = conversation.scenario.initial_message or ""
        record = self._new_record(conversation, 0, say, goal_id, chat.id)
        record.initial = True
        try:
            if chat.initial_turn_id is None:
                raise LumeError(
                    "The backend gave an existing consultation instead of creating one, so the "
                    "initial message was not sent; complete the consultations of this persona "
                    "(or delete them) and run again."
                )
            reply = await chat.initial_reply()
        except Exception as exc:
            raise _ConversationError(exc, 0, record) from exc
        record.wall_s = round(self._clock() - opened_at, 6)
        _fill(record, reply)
        return record

    async def _next_message(
        self, conversation: Conversation, index: int, exchanges: list[Exchange]
    ) -> tuple[str | None, bool, int]:
        """(text, simulated, simulator tokens) of the next user message; no text when the simulator ends."""
        scenario = conversation.scenario
        user = scenario.simulated_user
        if user is None:
            assert scenario.turns is not None
            return scenario.turns[index].say, False, 0
        if index == 0 and user.opening:
            return user.opening, False, 0
        if self.simulator is None:
            raise _ConversationError(ConfigurationError("no simulator model is configured"), index)
        try:
            move = await self.simulator.next_message(
                user, persona=conversation.persona, goal=conversation.goal, conversation=exchanges
            )
        except Exception as exc:
            raise _ConversationError(exc, index) from exc
        return move.text, True, move.tokens

    async def _ended_by(
        self,
        conversation: Conversation,
        index: int,
        record: TurnRecord,
        exchanges: list[Exchange],
    ) -> str | None:
        """Why the conversation ends after this turn, or None when it goes on."""
        scenario = conversation.scenario
        user = scenario.simulated_user
        if user is None:
            return "script" if index == len(scenario.turns or ()) - 1 else None
        if user.stop_when:
            verdict = await self.verdicts.judge_now(
                conversation, Rubric(criteria=user.stop_when), exchanges, "stop_when"
            )
            record.judgements.append(verdict.to_dict())
            record.judge_tokens += verdict.tokens
            if verdict.error is not None:
                record.error = verdict.error
                record.error_type = "JudgeError"
                return "error"
            if verdict.passed:
                return "stop_when"
        if index + 1 >= user.max_turns:
            return "max_turns"
        return None

    async def _finish_record(
        self,
        record: TurnRecord,
        conversation: Conversation,
        records: list[TurnRecord],
        exchanges: list[Exchange],
    ) -> None:
        """Mark the conversation's last record, judge the whole conversation, write it."""
        await self.verdicts.settle(record)
        record.last = True
        if conversation.scenario.simulated_user is not None:
            record.turns_total = len(records)
        expect = conversation.conversation_expect
        if expect is not None:
            record.failures += check_conversation(records, expect.checks())
            if expect.rubric is not None:
                verdict = await self.verdicts.judge_now(
                    conversation, expect.rubric, exchanges, "conversation rubric"
                )
                add_verdict(record, verdict)
        record.passed = verdict_of(record)
        self._emit(record)

    async def _ask(self, chat: Consultation, text: str) -> tuple[Reply, list[tuple[float, int]]]:
        """The reply and (arrival time, characters) of each streamed chunk."""
        attempts = 0
        while True:
            attempts += 1
            chunks: list[tuple[float, int]] = []
            try:
                async with contextlib.aclosing(chat.stream(text)) as events:
                    async for event in events:
                        if isinstance(event, ChunkReceived):
                            chunks.append((event.at, len(event.text)))
                        elif isinstance(event, ReplyCompleted):
                            return event.reply, chunks
                        elif isinstance(event, TurnFailed):
                            raise event.error
                raise LumeError("the turn ended without a reply")
            except RateLimitedError as exc:
                # Only a message that certainly did not reach the server is sent again.
                if exc.unsent_text is None or attempts >= self.options.max_attempts:
                    raise
                self._rate_limited(exc.retry_after)
                await self.limiter.wait_unpaused()

    async def _retrying(self, call: Callable[[], Any]) -> Any:
        attempts = 0
        while True:
            attempts += 1
            try:
                return await call()
            except RateLimitedError as exc:
                if attempts >= self.options.max_attempts:
                    raise
                self._rate_limited(exc.retry_after)
                await self.limiter.wait_unpaused()

    def _rate_limited(self, retry_after: float | None, *, counted: bool | None = None) -> None:
        """React to a rate limit that surfaced as an exception (or, below, on the wire)."""
        if counted if counted is not None else self.watching:
            # The transport already reported this 429; only make sure we wait.
            self.limiter.pause(retry_after)
        else:
            self.limiter.rate_limited(retry_after)
        self._set_active()

    def observe_rate_limit(self, retry_after: float | None) -> None:
        """Listener for :class:`~lume_widget.evaluation.watch.RateLimitWatch`: every 429 on the wire."""
        self.limiter.rate_limited(retry_after)
        self._set_active()

    # -- records and progress --------------------------------------------------------------

    def _new_record(
        self,
        conversation: Conversation,
        index: int,
        say: str,
        goal_id: str | None,
        consultation_id: str | None,
    ) -> TurnRecord:
        scenario = conversation.scenario
        original = self.options.replay_of.get(conversation.key)
        return TurnRecord(
            replay_of=None if original is None else list(original),
            scenario=scenario.name,
            repeat=conversation.repeat,
            persona=conversation.persona,
            turn=index,
            say=say,
            goal=scenario.goal,
            goal_id=goal_id,
            consultation_id=consultation_id,
            turns_total=scenario.planned_turns,
            started_at=datetime.now(timezone.utc).isoformat(),
        )

    def _emit(self, record: TurnRecord) -> None:
        if self._writer is not None:
            self._writer.write(record)
        progress = self._progress
        if progress is None:
            return
        self._count(record, progress)
        if record.last:
            progress.conversations_done += 1
        progress.last = record
        self._report()

    @staticmethod
    def _count(record: TurnRecord, progress: Progress) -> None:
        progress.turns_done += 1
        if record.outcome == "passed":
            progress.passed += 1
        elif record.outcome == "failed":
            progress.failed += 1
        else:
            progress.errors += 1
            progress.skipped += max(0, record.turns_total - record.turn - 1)

    def _set_active(self) -> None:
        if self._progress is not None:
            self._progress.active = self.limiter.active
            self._progress.concurrency = self.limiter.limit
            self._progress.rate_limits = self.limiter.rate_limits
            self._report()

    def _report(self) -> None:
        if self.options.progress is not None and self._progress is not None:
            try:
                self.options.progress(self._progress)
            except Exception:  # a broken progress display must not end the run
                logger.exception("the progress callback failed")


def _fill(record: TurnRecord, reply: Reply, chunks: Sequence[tuple[float, int]] = ()) -> None:
    record.reply = valid_text(reply.text)
    record.ttft_s = None if reply.ttft_s is None else round(reply.ttft_s, 6)
    record.duration_s = round(reply.duration_s, 6)
    record.chunks = reply.chunks
    record.tier = str(reply.tier.value if hasattr(reply.tier, "value") else reply.tier)
    record.reconnects = reply.reconnects
    record.tier_changes = len(reply.tier_changes)
    server_ms = reply.metadata.get("processing_time_ms") if reply.metadata else None
    record.server_ms = float(server_ms) if isinstance(server_ms, int | float) else None
    tokens = reply.metadata.get("tokens_used") if reply.metadata else None
    record.reply_tokens = (
        tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None
    )
    gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(chunks)]
    if gaps:
        record.chunk_gap_p50_s = percentile(gaps, 0.5)
        record.chunk_gap_p95_s = percentile(gaps, 0.95)
        record.chunk_gap_max_s = round(max(gaps), 6)
        streamed = chunks[-1][0] - chunks[0][0]
        after_first = sum(size for _, size in chunks[1:])
        if streamed > 0:
            record.chars_per_s = round(after_first / streamed, 3)


def _describe(error: BaseException) -> str:
    if isinstance(error, LumeError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _same_goal(goal: Any, spec: GoalSpec) -> bool:
    return bool(
        goal.title == spec.title
        and (spec.target_value is None or goal.target_value == spec.target_value)
        and (spec.target_unit is None or goal.target_unit == spec.target_unit)
    )
