"""Rubric verdicts during a run: judged in the background while the conversation goes on, added to their records in turn order.

A turn's rubric never changes what is asked next, so the judge scores turn N while the
persona answers turn N+1; the records still reach ``transcripts.jsonl`` in turn order,
each once its own verdict is in. ``stop_when`` and conversation rubrics are judged in
line (they decide or close the conversation).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from lume_widget.evaluation.judge import CheckKind, Exchange, Judge, Verdict
from lume_widget.evaluation.records import TurnRecord
from lume_widget.evaluation.scenarios import Conversation, Rubric

__all__ = ["Verdicts", "add_verdict", "verdict_of"]

logger = logging.getLogger(__name__)

Emit = Callable[[TurnRecord], None]


def verdict_of(record: TurnRecord) -> bool | None:
    """True when every check passed, False when one failed, None when a check could not be judged."""
    if record.failures:
        return False
    return None if record.check_errors else True


def add_verdict(record: TurnRecord, verdict: Verdict) -> None:
    """Record a verdict on its turn: the judgement, its tokens, and a failure or a check error."""
    record.judgements.append(verdict.to_dict())
    record.judge_tokens += verdict.tokens
    if verdict.error is not None:
        record.check_errors.append(verdict.error)
    failure = verdict.failure()
    if failure is not None:
        record.failures.append(failure)


class Verdicts:
    """The run's judge calls: in line (:meth:`judge`) or in the background (:meth:`start`)."""

    def __init__(self, judge: Judge | None) -> None:
        self.judge = judge
        self._pending: dict[int, asyncio.Future[Verdict]] = {}

    async def judge_now(
        self,
        conversation: Conversation,
        rubric: Rubric,
        exchanges: Sequence[Exchange],
        kind: CheckKind,
    ) -> Verdict:
        """The verdict on ``rubric``; a judge that is missing or breaks errs the check, never the run."""
        if self.judge is None:
            return Verdict(
                check=kind,
                criteria=rubric.criteria,
                threshold=rubric.threshold,
                error=f"{kind}: no judge model is configured",
            )
        try:
            return await self.judge.judge(
                rubric,
                persona=conversation.persona,
                goal=conversation.goal,
                conversation=list(exchanges),
                kind=kind,
            )
        except Exception as exc:
            logger.exception("judging a %s failed", kind)
            return Verdict(
                check=kind,
                criteria=rubric.criteria,
                threshold=rubric.threshold,
                error=f"{kind}: judging failed: {type(exc).__name__}: {exc}",
            )

    def start(
        self,
        record: TurnRecord,
        conversation: Conversation,
        rubric: Rubric,
        exchanges: Sequence[Exchange],
    ) -> None:
        """Judge the turn's rubric in the background (on the conversation up to this reply)."""
        self._pending[id(record)] = asyncio.ensure_future(
            self.judge_now(conversation, rubric, list(exchanges), "rubric")
        )

    def write_ready(self, queue: list[TurnRecord], emit: Emit) -> None:
        """Write the queued records, in order, as far as their verdicts are in."""
        while queue:
            task = self._pending.get(id(queue[0]))
            if task is not None and not task.done():
                return
            record = queue.pop(0)
            if task is not None:
                del self._pending[id(record)]
                add_verdict(record, task.result())
            record.passed = verdict_of(record)
            emit(record)

    async def write_all(self, queue: list[TurnRecord], emit: Emit) -> None:
        """Wait for every queued verdict and write the records."""
        while queue:
            task = self._pending.get(id(queue[0]))
            if task is not None:
                await asyncio.wait({task})
            self.write_ready(queue, emit)

    async def settle(self, record: TurnRecord) -> None:
        """Add the record's own background verdict once it is in."""
        task = self._pending.pop(id(record), None)
        if task is not None:
            add_verdict(record, await task)

    def cancel(self, records: Sequence[TurnRecord]) -> None:
        """Drop the background verdicts of these records (the conversation was cancelled)."""
        for record in records:
            task = self._pending.pop(id(record), None)
            if task is not None:
                task.cancel()
