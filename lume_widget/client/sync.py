"""The synchronous facade: ``lume_widget.connect(...)`` for scripts and notebook cells."""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any

from lume_widget.core.events import Event, Reply, Tier

__all__ = ["SyncConsultation", "connect"]


class SyncConsultation:
    """A consultation driven synchronously (works inside a running loop via nest_asyncio)."""

    def ask(self, text: str) -> Reply:
        raise NotImplementedError

    def stream(self, text: str) -> Iterator[Event]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> SyncConsultation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def connect(
    url: str | None = None,
    *,
    persona: str = "general_wellness",
    goal_id: str | None = None,
    consultation_id: str | None = None,
    tier: Tier | str | None = None,
    **client_options: Any,
) -> SyncConsultation:
    """Open a consultation synchronously; see :meth:`LumeClient.connect` for the options."""
    raise NotImplementedError
