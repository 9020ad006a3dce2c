"""Fallback cost: time to a complete reply when the live upgrade is refused or the socket drops mid-reply.

Each measured turn opens a fresh consultation with the client's default settings and
asks for ``/long N``; the time runs from ``open`` to the complete reply, so a tier
decision taken while opening is counted. Three cases are interleaved turn by turn so
that drift on a shared machine hits all of them alike: no fault (the reference),
upgrade refused with 403 (the client must fall back to ``rest``), and the socket closed
abruptly after half the chunks (the client must recover the reply without showing any
of it twice). Every reply is checked whole and stored exactly once.

A second pair of cases measures the rest tier's poll schedule against a slow backend: the
model takes 2 s before its first word (fault ``reply_delay_ms``), and the time runs from the
send to the complete reply, live (the reference: it streams as soon as the words come)
interleaved with an upgrade refused (the reply must be seen by the rest tier's polls).
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.common import Row, Skip, Target, percentile, row
from benchmarks.context import Context, require_module
from benchmarks.ours import close_chat, close_client, open_chat, open_client
from benchmarks.server import ServerHandle

NAME = "fallback"
ADDED_P95_TARGET_S = 0.3
REPLY_CHUNKS = 40
SLOW_REPLY_MS = 2000
SLOW_REST_P95_TARGET_S = 2.3


async def _one_turn(client: Any, prompt: str, *, from_send: bool = False) -> tuple[float, Any]:
    """One turn in a fresh consultation: the time from ``open`` (or from the send) to the reply."""
    started = time.perf_counter()
    chat = await open_chat(client)
    try:
        if from_send:
            started = time.perf_counter()
        reply = await chat.ask(prompt)
        elapsed = time.perf_counter() - started
        history = await chat.history()
        assistants = [m for m in history if m.role == "assistant" and m.content == reply.text]
        if len(assistants) != 1:
            raise RuntimeError(
                f"the reply is stored {len(assistants)} times in history, expected exactly once"
            )
        return elapsed, reply
    finally:
        await close_chat(chat, delete=True)


def _check_fault_acted(case: str, reply: Any) -> None:
    """A case whose fault did not bite would measure nothing: say so instead of reporting it."""
    if case == "refused" and str(reply.tier) == "live":
        raise RuntimeError("the refused-upgrade case was delivered live: the fault did not act")
    if case == "dropped" and str(reply.tier) == "live" and reply.chunks >= REPLY_CHUNKS:
        raise RuntimeError("the dropped-socket case streamed every chunk: the fault did not act")


async def _set_case(server: ServerHandle, case: str) -> None:
    await server.clear_faults()
    if case == "refused":
        await server.set_faults(refuse_ws_upgrade=403)
    elif case == "dropped":
        await server.set_faults(ws_close_after_chunks=REPLY_CHUNKS // 2, ws_close_mode="abrupt")
    elif case == "slow live":
        await server.set_faults(reply_delay_ms=SLOW_REPLY_MS)
    elif case == "slow refused":
        await server.set_faults(reply_delay_ms=SLOW_REPLY_MS, refuse_ws_upgrade=403)


async def _slow_cases(
    ctx: Context, server: ServerHandle, client: Any, prompt: str, expected: str
) -> dict[str, list[float]]:
    """A 2 s model, live and refused interleaved: from the send to the complete reply."""
    turns = ctx.size(10, 2)
    times: dict[str, list[float]] = {"slow live": [], "slow refused": []}
    for index in range(turns):
        for case in times:
            await _set_case(server, case)
            elapsed, reply = await _one_turn(client, prompt, from_send=True)
            if reply.text != expected:
                raise RuntimeError(f"the {case} case delivered a different reply text")
            _check_fault_acted(case.split()[-1], reply)
            if elapsed < SLOW_REPLY_MS / 1000:
                raise RuntimeError(f"the {case} reply came before the model's delay: no delay")
            times[case].append(elapsed)
        ctx.note(
            f"2 s model, turn {index + 1}/{turns}: "
            + ", ".join(f"{case} {times[case][-1] * 1000:.0f} ms" for case in times)
        )
    return times


async def run(ctx: Context) -> tuple[list[Row], dict[str, Any]]:
    require_module("lume_widget.server", "the reference server")
    turns = ctx.size(20, 3)
    server = await ctx.server()
    client = await open_client(server)
    cases = ("none", "refused", "dropped")
    times: dict[str, list[float]] = {case: [] for case in cases}
    tiers: dict[str, set[str]] = {case: set() for case in cases}
    chunks_seen: dict[str, list[int]] = {case: [] for case in cases}
    prompt = f"/long {REPLY_CHUNKS}"
    expected: str | None = None
    try:
        await _set_case(server, "none")
        expected = (await _one_turn(client, prompt))[1].text  # warm-up
        for index in range(turns):
            for case in cases:
                await _set_case(server, case)
                elapsed, reply = await _one_turn(client, prompt)
                if reply.text != expected:
                    raise RuntimeError(f"the {case} case delivered a different reply text")
                times[case].append(elapsed)
                tiers[case].add(str(reply.tier))
                chunks_seen[case].append(reply.chunks)
                _check_fault_acted(case, reply)
            ctx.note(
                f"turn {index + 1}/{turns}: "
                + ", ".join(f"{case} {times[case][-1] * 1000:.0f} ms" for case in cases)
            )
        slow = await _slow_cases(ctx, server, client, prompt, expected)
    except NotImplementedError as exc:
        raise Skip("the async client is not implemented yet") from exc
    finally:
        await server.clear_faults()
        await close_client(client)

    rows: list[Row] = []
    base50 = percentile(times["none"], 50)
    base95 = percentile(times["none"], 95)
    rows.append(row(NAME, "no fault: time to reply p50", "s", base50))
    rows.append(row(NAME, "no fault: time to reply p95", "s", base95))
    labels = {"refused": "upgrade refused (403)", "dropped": "socket dropped mid-reply"}
    for case in ("refused", "dropped"):
        p50 = percentile(times[case], 50)
        p95 = percentile(times[case], 95)
        rows.append(
            row(
                NAME,
                f"{labels[case]}: time to reply p50",
                "s",
                p50,
                base50,
                reference_name="no fault",
                note=f"added {p50 - base50:.3f} s",
            )
        )
        rows.append(
            row(
                NAME,
                f"{labels[case]}: time to reply p95",
                "s",
                p95,
                base95,
                reference_name="no fault",
                target=Target(
                    "ours_at_most",
                    base95 + ADDED_P95_TARGET_S,
                    text=f"added <= {ADDED_P95_TARGET_S} s",
                ),
                note=f"added {p95 - base95:.3f} s",
            )
        )
    live95 = percentile(slow["slow live"], 95)
    rows.append(row(NAME, "2 s model, live: send to reply p95", "s", live95))
    rows.append(
        row(
            NAME,
            "2 s model, upgrade refused (rest polls): send to reply p95",
            "s",
            percentile(slow["slow refused"], 95),
            live95,
            reference_name="live",
            target=Target("ours_at_most", SLOW_REST_P95_TARGET_S),
            note=f"p50 {percentile(slow['slow refused'], 50):.3f} s",
        )
    )
    parameters = {
        "turns_per_case": turns,
        "slow_turns_per_case": len(slow["slow live"]),
        "slow_reply_ms": SLOW_REPLY_MS,
        "reply_chunks": REPLY_CHUNKS,
        "tiers_seen": {case: sorted(seen) for case, seen in tiers.items()},
        "chunks_streamed_before_recovery": chunks_seen["dropped"],
        "added_p95_s": {
            case: round(percentile(times[case], 95) - base95, 4) for case in ("refused", "dropped")
        },
    }
    return rows, parameters
