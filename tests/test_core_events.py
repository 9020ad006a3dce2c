"""Events, replies and data types: vocabularies, JSON summaries, conveniences."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import datetime, timezone

import pytest

from lume_widget.core.events import ConnectionStatus, Reply, Tier, TierChanged
from lume_widget.core.models import Message
from lume_widget.core.turn import Turn, build_reply


def test_events_tiers_rank_and_fall_back_in_order() -> None:
    assert [t.rank for t in Tier] == [0, 1, 2]
    assert Tier.LIVE.below() is Tier.REST
    assert Tier.REST.below() is Tier.LEGACY
    assert Tier.LEGACY.below() is None
    assert str(Tier.REST) == "rest"
    assert str(ConnectionStatus.DEGRADED) == "degraded"


def test_events_reply_summary_is_json_ready_and_frozen() -> None:
    change = TierChanged(Tier.REST, Tier.LIVE, "refused", 1.0)
    reply = Reply(
        text="t",
        message_id="m",
        consultation_id="c",
        user_message_id="u",
        tier=Tier.REST,
        ttft_s=0.123456,
        duration_s=1.0,
        chunks=1,
        tier_changes=(change,),
        started_at=datetime(2025, 1, 1, tzinfo=timezone.utc),
        metadata={"tokens_used": 3},
    )
    summary = reply.to_dict()
    assert summary["tier"] == "rest"
    assert summary["ttft_s"] == 0.1235
    assert summary["tier_changes"] == [{"tier": "rest", "previous": "live", "reason": "refused"}]
    assert summary["started_at"].startswith("2025-01-01")
    with pytest.raises(FrozenInstanceError):
        reply.text = "changed"  # type: ignore[misc]
    first = Reply(
        "t",
        "m",
        "c",
        None,
        Tier.LIVE,
        None,
        0.0,
        1,
        tier_changes=(TierChanged(Tier.LIVE, None, "start", 0.0),),
    )
    assert first.to_dict()["ttft_s"] is None
    assert first.to_dict()["tier_changes"][0]["previous"] is None


def test_events_reply_metrics_take_server_metadata() -> None:
    turn = Turn(id="turn-1", text="Hi", began_at=1.0, wall_start=None, baseline=0, sent_at=2.0)
    stored = Message("a", "assistant", "Hello", tokens_used=9, processing_time_ms=120)
    reply = build_reply(turn, stored, "c", Tier.LEGACY, 3.0)
    assert reply.metadata == {"tokens_used": 9, "processing_time_ms": 120}
    assert reply.ttft_s == 1.0


def test_events_message_dict_leaves_out_absent_fields() -> None:
    full = Message(
        "m", "assistant", "x", datetime(2025, 1, 1, tzinfo=timezone.utc), "c", 4, 50
    ).to_dict()
    assert set(full) == {
        "id",
        "role",
        "content",
        "created_at",
        "consultation_id",
        "tokens_used",
        "processing_time_ms",
    }
    assert Message("m", "user", "x").to_dict() == {"id": "m", "role": "user", "content": "x"}
