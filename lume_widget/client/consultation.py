"""Consultation: one chat, delivered over the best working tier, reported as events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from lume_widget.core.events import ConnectionStatus, Event, Reply, Tier
from lume_widget.core.models import Message

__all__ = ["Consultation"]


class Consultation:
    """One consultation. Create with :meth:`connect` or :meth:`LumeClient.open`."""

    id: str
    persona: str
    goal_id: str | None

    @classmethod
    @asynccontextmanager
    async def connect(
        cls,
        url: str | None = None,
        *,
        persona: str = "general_wellness",
        goal_id: str | None = None,
        consultation_id: str | None = None,
        tier: Tier | str | None = None,
        **client_options: Any,
    ) -> AsyncIterator[Consultation]:
        """Open a consultation that owns its own :class:`LumeClient`; closes both on exit."""
        raise NotImplementedError
        yield  # pragma: no cover

    @property
    def tier(self) -> Tier:
        raise NotImplementedError

    @property
    def status(self) -> ConnectionStatus:
        raise NotImplementedError

    @property
    def transcript(self) -> list[Message]:
        raise NotImplementedError

    async def ask(self, text: str) -> Reply:
        raise NotImplementedError

    def stream(self, text: str) -> AsyncIterator[Event]:
        raise NotImplementedError

    def events(self) -> AsyncIterator[Event]:
        raise NotImplementedError

    def pin_tier(self, tier: Tier | str | None) -> None:
        raise NotImplementedError

    async def simulate_live_drop(self) -> None:
        raise NotImplementedError

    async def history(self) -> list[Message]:
        raise NotImplementedError

    async def complete(self) -> None:
        raise NotImplementedError

    async def delete(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError
