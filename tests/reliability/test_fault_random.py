"""Faults at random, turn after turn, and the chat panel through drops and duplicated frames.

The seeded random run picks one of a dozen server fault sets for each turn (and sometimes drops
the live socket) and ends with the fault matrix's oracle; the soak variant runs 3 x 150 turns
with ``--run-slow``. The panel test checks that the widget's ``messages`` trait equals the
server's history, each message once, after an abrupt drop and duplicated chunks.
"""

from __future__ import annotations

import random
import time

import pytest

from lume_widget.core.events import ConnectionStatus, Tier
from lume_widget.server import ReferenceServer

from .conftest import Figures
from .harness import duplicate_chunks, rig
from .support import history


def since(start: float) -> float:
    return round(time.monotonic() - start, 3)


# -- faults at random, turn after turn (the soak variant runs with --run-slow) -----------------------

FAULT_MENU: list[dict[str, object]] = [
    {},
    {"ws_close_after_chunks": 2, "ws_close_mode": "clean"},
    {"ws_close_after_chunks": 3, "ws_close_mode": "abrupt"},
    {"ws_close_after_connect": True, "ws_close_mode": "abrupt"},
    {"ws_stall_after_chunks": 2},
    {"ws_omit_stream_complete": True},
    {"ws_pack_events": 4},
    {"ws_malformed_frames": True, "ws_unknown_frames": True},
    {"http_error_rate": 0.5},
    {"rate_limit_rate": 0.34, "rate_limit_retry_after_s": 1},
    {"refuse_ws_upgrade": 503},
    {"latency_ms": 50},
]


async def random_faults(
    server: ReferenceServer, time_scale: float, figures: Figures, turns: int, seed: int
) -> None:
    rng = random.Random(seed)
    used: dict[str, int] = {}
    started = time.monotonic()
    async with rig(server, time_scale) as r:
        for index in range(turns):
            faults = rng.choice(FAULT_MENU)
            server.clear_faults()
            server.set_faults(**faults)
            used[",".join(sorted(faults)) or "none"] = (
                used.get(",".join(sorted(faults)) or "none", 0) + 1
            )
            if (
                rng.random() < 0.15
                and r.chat.status is ConnectionStatus.CONNECTED
                and r.chat.tier is Tier.LIVE
            ):
                await r.chat.simulate_live_drop()
            await r.turn(
                f"Question {index + 1} of the soak: what about meal {index % 5 + 1}?", timeout=30
            )
        server.clear_faults()
        await r.check()
        tiers = [t.replies[0].reply.tier.value for t in r.turns if t.replies]
        figures.record(
            f"fault: {turns} turns under random faults (seed {seed})",
            wall_s=since(started),
            turns=turns,
            by_tier={tier: tiers.count(tier) for tier in sorted(set(tiers))},
            fault_sets_used=len(used),
        )
        await r.close()


async def test_random_faults_turn_after_turn_lose_nothing(
    reference_server: ReferenceServer, time_scale: float, figures: Figures
) -> None:
    await random_faults(reference_server, time_scale, figures, turns=12, seed=7)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_soak_random_faults_over_150_turns_lose_nothing(
    reference_server: ReferenceServer, time_scale: float, figures: Figures, seed: int
) -> None:
    await random_faults(reference_server, time_scale, figures, turns=150, seed=seed)


# -- the chat panel shows what the server stored, once ------------------------------------------


async def test_widget_shows_each_message_once_through_drops_and_duplicates(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    from lume_widget.widget import ChatWidget

    async with rig(reference_server, time_scale, frame_transform=duplicate_chunks) as r:
        widget = ChatWidget(client=r.client, persona="nutritionist", flush_ms=0)
        try:
            await widget.ready()
            reference_server.set_faults(ws_close_after_chunks=3, ws_close_mode="abrupt")
            await widget.ask_async("First: is rice a good carb?")
            reference_server.clear_faults()
            await widget.ask_async("Second: and potatoes?")
            assert widget.consultation is not None
            stored = await history(r.http, r.user, widget.consultation.id)
            shown = [(m["id"], m["role"], m["content"]) for m in widget.messages]
            expected = [(m["id"], m["role"], m["content"]) for m in stored]
            assert shown == expected
            assert len({m[0] for m in shown}) == len(shown)
        finally:
            widget.close()
        await r.close()
