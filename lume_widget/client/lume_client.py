"""LumeClient: an authenticated connection to one backend, and the door to consultations."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from lume_widget.core.events import Tier
from lume_widget.core.models import ConsultationInfo, Goal, QuickAction
from lume_widget.core.settings import Settings

if TYPE_CHECKING:
    from lume_widget.client.consultation import Consultation

__all__ = ["LumeClient"]


class LumeClient:
    """An authenticated connection to a Lume backend (or the embedded reference server)."""

    @classmethod
    async def connect(
        cls,
        url: str | None = None,
        *,
        api_key: str | None = None,
        email: str | None = None,
        password: str | None = None,
        token: str | None = None,
        refresh_token: str | None = None,
        admin_token: str | None = None,
        settings: Settings | None = None,
        transport: Any = None,
        ws_connector: Any = None,
    ) -> LumeClient:
        """Log in and return a client. ``url=None`` (and no ``LUME_URL``) starts the embedded server."""
        raise NotImplementedError

    url: str
    settings: Settings

    async def list_goals(self) -> list[Goal]:
        raise NotImplementedError

    async def create_goal(
        self,
        *,
        title: str,
        goal_type: str = "general",
        current_value: float | None = None,
        target_value: float | None = None,
        target_unit: str | None = None,
        description: str | None = None,
    ) -> Goal:
        raise NotImplementedError

    async def list_consultations(
        self, status: str | None = None, persona: str | None = None
    ) -> list[ConsultationInfo]:
        raise NotImplementedError

    async def quick_actions(
        self, persona: str | None = None, context_type: str | None = None
    ) -> list[QuickAction]:
        raise NotImplementedError

    async def open(
        self,
        persona: str = "general_wellness",
        goal_id: str | None = None,
        consultation_id: str | None = None,
        *,
        resume: bool = True,
        initial_message: str | None = None,
        quick_action: str | None = None,
        tier: Tier | str | None = None,
    ) -> Consultation:
        raise NotImplementedError

    @property
    def is_reference_server(self) -> bool:
        raise NotImplementedError

    async def get_faults(self) -> dict[str, Any]:
        raise NotImplementedError

    async def set_faults(self, **faults: Any) -> dict[str, Any]:
        raise NotImplementedError

    async def clear_faults(self) -> dict[str, Any]:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> LumeClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
