"""The tier policy's tables, without clocks: what a demotion leads to, when live is probed."""

from __future__ import annotations

import itertools

import pytest

from lume_widget.core.actions import ConnectLive
from lume_widget.core.events import ConnectionStatus, Tier, TierChanged, TurnFailed
from lume_widget.core.tiers import DEMOTIONS, REFUSED_UPGRADE, Demotion, probe_due
from lume_widget.errors import ServerError
from tests.test_core_session import Driver


def test_tiers_demotions_cover_every_case() -> None:
    assert set(DEMOTIONS) == set(itertools.product((True, False), repeat=3))


@pytest.mark.parametrize(("below", "pinned", "may_cycle"), sorted(DEMOTIONS))
def test_tiers_demotion_steps_down_only_when_automatic_with_a_tier_below(
    below: bool, pinned: bool, may_cycle: bool
) -> None:
    what = DEMOTIONS[(below, pinned, may_cycle)]
    if pinned:
        assert what is Demotion.GIVE_UP
    elif below:
        assert what is Demotion.STEP_DOWN
    else:
        assert what is (Demotion.START_OVER if may_cycle else Demotion.GIVE_UP)


def test_tiers_ladder_runs_live_rest_legacy() -> None:
    assert [Tier.LIVE.below(), Tier.REST.below(), Tier.LEGACY.below()] == [
        Tier.REST,
        Tier.LEGACY,
        None,
    ]


def _due(
    *,
    tier: Tier = Tier.REST,
    pinned: Tier | None = None,
    live_down: bool = True,
    last_probe: float | None = 10.0,
    now: float = 40.0,
) -> bool:
    return probe_due(
        tier=tier,
        pinned=pinned,
        live_down=live_down,
        last_probe=last_probe,
        now=now,
        interval_s=30.0,
    )


def test_tiers_probe_is_due_an_interval_after_the_last_one() -> None:
    assert _due()
    assert _due(last_probe=None)
    assert not _due(now=39.9)


def test_tiers_probe_is_never_due_on_live_pinned_or_with_live_open() -> None:
    assert not _due(tier=Tier.LIVE)
    assert not _due(pinned=Tier.REST)
    assert not _due(live_down=False)


@pytest.mark.parametrize("status", sorted(REFUSED_UPGRADE))
def test_tiers_refused_live_upgrade_steps_down_at_once(status: int) -> None:
    d = Driver()
    d.session.start(0.0)
    d.session.live_connect_failed(d.session.live_generation, status, "refused", 0.1)
    d.drain()
    assert [c.tier for c in d.of(TierChanged)] == [Tier.REST]
    assert len(d.of(ConnectLive)) == 1  # never tried again


def test_tiers_pinned_tier_failing_gives_up_the_turn() -> None:
    d = Driver(pinned=Tier.REST, rest_failure_limit=2)
    d.session.start(0.0)
    d.session.begin_turn("Hi", 1.0)
    for at in (1.1, 1.2):
        d.drain()
        last = d.actions[-1]
        if hasattr(last, "purpose"):
            d.session.history_failed(last.request_id, 502, None, "bad gateway", at)
        else:
            d.session.send_failed(last.request_id, 502, None, "bad gateway", at)
    d.drain()
    [failed] = d.of(TurnFailed)
    assert isinstance(failed.error, ServerError)
    assert failed.error.unsent_text == "Hi"
    assert d.session.status is ConnectionStatus.OFFLINE
    assert not d.of(TierChanged)
