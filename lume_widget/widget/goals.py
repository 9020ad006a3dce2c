"""The widget's goals: create one from code or from the panel's "New goal" form, select it,
and keep the picker's progress current.

:class:`GoalActions` is a part the widget holds (``ChatWidget._goals``), as it holds its other
actions (:mod:`lume_widget.widget.actions`); ``chat.create_goal(...)`` is a one-line call into
it. The form sends ``{type: "create_goal", request_id, goal}``; the goal is checked here as
the client checks every goal (:mod:`lume_widget.core.goals`), created, and selected, and the
form gets ``{type: "goal_form", request_id, ok, ...}`` back with the problems of each field
when it was refused. The picker's goals are reloaded after each turn, since a goal's
progress may change on the server meanwhile (from a notebook cell, say).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lume_widget.core.models import Goal
from lume_widget.errors import ConfigurationError, InvalidGoalError, LumeError

if TYPE_CHECKING:
    from lume_widget.widget.actions import Handler
    from lume_widget.widget.host import PanelHost

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


class GoalActions:
    """``create_goal`` for code and for the panel's form, and the picker kept current."""

    def __init__(self, widget: PanelHost) -> None:
        self.widget = widget

    async def create_goal(self, fields: Mapping[str, Any]) -> Goal:
        """Create a goal on the server (``LumeClient.create_goal``'s arguments), put it in the
        picker and select it; returns once its consultation is open."""
        w = self.widget
        await w._ensure_ready()
        if w._client is None:
            raise ConfigurationError("Not connected to Lume yet; wait for the panel to connect.")
        goal = await w._client.create_goal(**fields)
        await w._load_goals()
        w.goal_id = goal.id
        await w._settle_switch()
        return goal

    async def create_goal_from_form(self, content: Mapping[str, Any]) -> None:
        """The panel's "New goal" form: create the goal, answer with ``goal_form``."""
        reply: dict[str, Any] = {"type": "goal_form", "request_id": str(content.get("request_id"))}
        sent = content.get("goal")
        values = sent if isinstance(sent, Mapping) else {}
        fields = {k: values[k] for k in FORM_FIELDS if values.get(k) not in (None, "")}
        send = self.widget._send_custom
        try:
            goal = await self.create_goal(fields)
        except InvalidGoalError as exc:
            send({**reply, "ok": False, "problems": exc.problems, "message": ""})
            return
        except LumeError as exc:
            send({**reply, "ok": False, "problems": {}, "message": str(exc)})
            return
        send({**reply, "ok": True, "goal_id": goal.id, "title": goal.title})

    def handlers(self) -> dict[str, Handler]:
        """Custom message type -> coroutine handling it (docs/widget-protocol.md)."""
        return {"create_goal": self.create_goal_from_form}

    def pending_changed(self, change: dict[str, Any]) -> None:
        """A turn ended (``pending`` went to None): reload the picker's goals, quietly."""
        w = self.widget
        if change["old"] and not change["new"] and w._client is not None:
            w._runner.submit(self._reload_quietly())

    async def _reload_quietly(self) -> None:
        try:
            await self.widget._load_goals()
        except Exception:  # the picker keeps its goals; the next turn tries again
            logger.debug("goals could not be reloaded after a turn", exc_info=True)
