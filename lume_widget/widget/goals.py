"""The widget's goals: create one from code or from the panel's "New goal" form, select it,
and keep the picker's progress current.

A mixin of :class:`~lume_widget.widget.chat.ChatWidget` (whose other actions are a composed
controller, :mod:`lume_widget.widget.actions`). The
form sends ``{type: "create_goal", request_id, goal}``; the goal is checked here as the
client checks every goal (:mod:`lume_widget.core.goals`), created, and selected, and the
form gets ``{type: "goal_form", request_id, ok, ...}`` back with the problems of each field
when it was refused. The picker's goals are reloaded after each turn, since a goal's
progress may change on the server meanwhile (from a notebook cell, say).
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any

import traitlets

from lume_widget.core.models import Goal
from lume_widget.errors import ConfigurationError, InvalidGoalError, LumeError

if TYPE_CHECKING:
    from lume_widget.client import Consultation, LumeClient
    from lume_widget.widget.actions import Handler
    from lume_widget.widget.runner import LoopRunner

__all__ = ["FORM_FIELDS", "GoalActions"]

logger = logging.getLogger(__name__)

FORM_FIELDS = (
    "title",
    "goal_type",
    "target_value",
    "target_unit",
    "start_date",
    "target_date",
    "description",
)
"""What the panel's form may send; anything else in its message is ignored."""


class GoalActions(traitlets.HasTraits):
    """``create_goal`` for code and for the panel's form, and the picker kept current."""

    if TYPE_CHECKING:
        # Provided by ChatWidget.
        _runner: LoopRunner
        _client: LumeClient | None
        goal_id: str

        def _ensure_ready(self) -> Coroutine[Any, Any, Consultation]: ...
        def _load_goals(self) -> Coroutine[Any, Any, None]: ...
        def _settle_switch(self) -> Coroutine[Any, Any, None]: ...
        def _send_custom(self, content: dict[str, Any]) -> None: ...

    async def create_goal_async(self, **fields: Any) -> Goal:
        """Create a goal on the server (``LumeClient.create_goal``'s arguments), put it in the
        picker and select it; returns once its consultation is open."""
        return await self._runner.await_here(self._create_goal(fields))

    def create_goal(self, **fields: Any) -> Goal:
        """Blocking form of :meth:`create_goal_async`."""
        return self._runner.run_blocking(self._create_goal(fields))

    async def _create_goal(self, fields: Mapping[str, Any]) -> Goal:
        await self._ensure_ready()
        if self._client is None:
            raise ConfigurationError("Not connected to Lume yet; wait for the panel to connect.")
        goal = await self._client.create_goal(**fields)
        await self._load_goals()
        self.goal_id = goal.id
        await self._settle_switch()
        return goal

    async def _create_goal_from_form(self, content: Mapping[str, Any]) -> None:
        reply: dict[str, Any] = {"type": "goal_form", "request_id": str(content.get("request_id"))}
        sent = content.get("goal")
        values = sent if isinstance(sent, Mapping) else {}
        fields = {k: values[k] for k in FORM_FIELDS if values.get(k) not in (None, "")}
        try:
            goal = await self._create_goal(fields)
        except InvalidGoalError as exc:
            self._send_custom({**reply, "ok": False, "problems": exc.problems, "message": ""})
            return
        except LumeError as exc:
            self._send_custom({**reply, "ok": False, "problems": {}, "message": str(exc)})
            return
        self._send_custom({**reply, "ok": True, "goal_id": goal.id, "title": goal.title})

    def _goal_handlers(self) -> dict[str, Handler]:
        return {"create_goal": self._create_goal_from_form}

    @traitlets.observe("pending")
    def _reload_goals_after_turn(self, change: dict[str, Any]) -> None:
        if change["old"] and not change["new"] and self._client is not None:
            self._runner.submit(self._reload_quietly())

    async def _reload_quietly(self) -> None:
        try:
            await self._load_goals()
        except Exception:  # the picker keeps its goals; the next turn tries again
            logger.debug("goals could not be reloaded after a turn", exc_info=True)
