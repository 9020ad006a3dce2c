"""What the panel's buttons and pickers do: stop, retry, switch, new consultation, the
consultations and explore drawers, closing.

:class:`PanelActions` is a controller the widget holds (``ChatWidget._actions``), not a base
class; it sees the widget as a :class:`~lume_widget.widget.host.PanelHost`. It owns the state
of switching (the task opening the consultation for a new persona or goal) and the coroutines
behind every action, each run on the widget's loop; the widget keeps the traits and the
connection, its turns are :mod:`lume_widget.widget.turns`, and its public methods
(``chat.stop()``, ``chat.switch(...)``, ``chat.open_consultation(id)``, ...) are one-line
calls into this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from lume_widget.core.events import unknown_tier
from lume_widget.core.wire import unknown_persona
from lume_widget.defaults import PERSONAS
from lume_widget.errors import ConfigurationError, LumeError
from lume_widget.widget.consultations import drawer_list, oldest_active
from lume_widget.widget.model import TIERS

if TYPE_CHECKING:
    from lume_widget.widget.host import PanelHost

__all__ = ["Handler", "PanelActions"]

logger = logging.getLogger(__name__)

Handler = Callable[[Mapping[str, Any]], Coroutine[Any, Any, None]]
CLIENT_CLOSE_TIMEOUT_S = 5.0


class PanelActions:
    """The actions of one panel, on its widget."""

    def __init__(self, widget: PanelHost) -> None:
        self.widget = widget
        self.switch_task: asyncio.Future[None] | None = None
        """The task opening the consultation of a newly chosen persona or goal."""
        self.switching = False
        """True from a persona or goal change until its consultation is open."""

    # -- the front end's messages ------------------------------------------------------

    def handlers(self) -> dict[str, Handler]:
        """Custom message type -> coroutine handling it (docs/widget-protocol.md)."""
        w = self.widget

        def consultation_id(content: Mapping[str, Any]) -> str:
            value = content.get("id")
            if not isinstance(value, str) or not value:
                raise ConfigurationError("This action needs the id of a consultation.")
            return value

        async def send(content: Mapping[str, Any]) -> None:
            w._spawn_turn(str(content.get("text", "")))

        async def set_faults(content: Mapping[str, Any]) -> None:
            faults = content.get("faults") or {}
            if not isinstance(faults, Mapping):
                raise ConfigurationError("set_faults needs a JSON object of fault settings.")
            await self.set_faults(dict(faults))

        async def list_consultations(_content: Mapping[str, Any]) -> None:
            await self.refresh_consultations()

        async def open_consultation(content: Mapping[str, Any]) -> None:
            await self.open_consultation(consultation_id(content))

        async def complete_consultation(content: Mapping[str, Any]) -> None:
            await self.complete_consultation(consultation_id(content))

        async def delete_consultation(content: Mapping[str, Any]) -> None:
            await self.delete_consultation(consultation_id(content))

        async def refresh_goals(_content: Mapping[str, Any]) -> None:
            await w._load_goals()  # quietly: no connection yet means nothing to refresh

        def simple(action: Callable[[], Coroutine[Any, Any, None]]) -> Handler:
            async def handle(_content: Mapping[str, Any]) -> None:
                await action()

            return handle

        return {
            "send": send,
            "retry": simple(self.retry),
            "stop": simple(self.stop_reply),
            "new_consultation": simple(self.new_consultation),
            "simulate_drop": simple(self.simulate_drop),
            "set_faults": set_faults,
            "list_consultations": list_consultations,
            "open_consultation": open_consultation,
            "complete_consultation": complete_consultation,
            "delete_consultation": delete_consultation,
            "complete_oldest": simple(self.complete_oldest),
            "refresh_goals": refresh_goals,
        }

    # -- the pickers write traits --------------------------------------------------------

    def scope_changed(self, change: dict[str, Any]) -> None:
        """The persona or goal trait changed: open the matching consultation."""
        w = self.widget
        if change["name"] == "persona" and change["new"] not in PERSONAS:
            w.error = unknown_persona(change["new"])
            w.persona = change["old"]
            return
        self.schedule_switch()

    def pinned_tier_changed(self, change: dict[str, Any]) -> None:
        """The explore drawer pinned (or unpinned) a tier."""
        w = self.widget
        value = change["new"]
        if value not in ("", *TIERS):
            w.error = unknown_tier(value)
            w.pinned_tier = change["old"]
            return
        w._runner.call_soon(self._apply_pin)

    def _apply_pin(self) -> None:
        w = self.widget
        if w._consultation is not None:
            w._consultation.pin_tier(w.pinned_tier or None)
            if w.pinned_tier:
                w.tier_reason = f"pinned to {w.pinned_tier}"
            else:
                w.tier_reason = "automatic: the client falls back between tiers on its own"

    # -- stop and retry -----------------------------------------------------------------

    def cancel_turn(self) -> None:
        """Cancel the turn in flight (on the loop's thread); its partial reply is kept."""
        task = self.widget._turn_task
        if task is not None and not task.done():
            task.cancel()

    async def stop_reply(self) -> None:
        """Cancel the turn in flight and wait until it has ended."""
        task = self.widget._turn_task
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, LumeError):
            await task

    async def retry(self) -> None:
        """Send the text of the last failed send again (connecting again if needed)."""
        w = self.widget
        text = w.unsent_text
        if w._consultation is None and not text:
            await w._ensure_ready()
            return
        if not text:
            raise LumeError("There is nothing to retry: the last message was delivered.")
        w._spawn_turn(text)

    # -- scope: persona, goal, new consultation ----------------------------------------

    def schedule_switch(self) -> None:
        """Open the consultation matching the current persona and goal (after the traits settle)."""
        w = self.widget
        self.switching = True
        w._update_input()

        async def switch() -> None:
            try:
                await self._switch()
            finally:
                self.switching = False
                w._update_input()

        def start() -> None:
            previous = self.switch_task
            if previous is not None and not previous.done():
                previous.cancel()
            task = asyncio.get_running_loop().create_task(switch())
            task.add_done_callback(self._report_failure)
            self.switch_task = task

        w._runner.call_soon(start)

    async def _switch(self) -> None:
        w = self.widget
        await self.stop_reply()
        if w._client is None:
            # Not connected yet: the first connection opens the chosen persona and goal.
            return
        current = w._consultation
        if (
            current is not None
            and current.persona == w.persona
            and (current.goal_id or "") == w.goal_id
        ):
            return
        await w._load_goals()
        await w._open(resume=True)

    async def settle_switch(self) -> None:
        """Wait until a switch just asked for has opened its consultation."""
        await asyncio.sleep(0)  # let a just-scheduled switch start
        task = self.switch_task
        if task is not None and not task.done():
            await asyncio.shield(task)
        await self.widget._ensure_ready()

    def _report_failure(self, task: asyncio.Future[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, LumeError):
            self.widget._show_failure(exc)
        elif exc is not None:
            logger.error("switching consultation failed", exc_info=exc)
            self.widget._show_error(f"Switching consultation failed: {exc}")

    async def new_consultation(self) -> None:
        """Complete the current consultation and open a new one with the same persona and goal."""
        w = self.widget
        await self.stop_reply()
        await w._ensure_ready()
        old = w._consultation
        if old is not None:
            try:
                await old.complete()
            except LumeError as exc:
                logger.info("completing the previous consultation failed: %s", exc)
        await w._open(resume=False)

    async def refresh_goals(self) -> None:
        """Reload the goal picker from the server."""
        await self.widget._ensure_ready()
        await self.widget._load_goals()

    # -- consultations drawer -----------------------------------------------------------

    async def refresh_consultations(self) -> None:
        """Reload the drawer's list (the ``consultations`` trait)."""
        w = self.widget
        consultation = await w._ensure_ready()
        assert w._client is not None
        w.consultations = await drawer_list(
            w._client, w.persona, w.goal_id, current=consultation.id, owner=w._owner
        )

    async def open_consultation(self, consultation_id: str) -> None:
        """Show the consultation ``consultation_id`` (its history loads)."""
        await self.stop_reply()
        await self.widget._ensure_ready()
        await self.widget._open(resume=True, consultation_id=consultation_id)
        await self.refresh_consultations()

    async def complete_consultation(self, consultation_id: str) -> None:
        """Complete a consultation by id; completing the one shown stops the box sending."""
        w = self.widget
        await w._ensure_ready()
        assert w._client is not None
        info = await w._client.complete_consultation(consultation_id)
        if w._consultation is not None and info.id == w._consultation.id:
            await self.stop_reply()
            w._closed_consultation = True
            w._update_input()
        await self.refresh_consultations()

    async def delete_consultation(self, consultation_id: str) -> None:
        """Delete a consultation by id; deleting the one shown opens another."""
        w = self.widget
        current = await w._ensure_ready()
        assert w._client is not None
        if current.id.lower() == consultation_id.lower():
            await self.stop_reply()
            await w._client.delete_consultation(consultation_id)
            await w._open(resume=True)  # another free one of this persona, or a new one
        else:
            await w._client.delete_consultation(consultation_id)
        await self.refresh_consultations()

    async def complete_oldest(self) -> None:
        """The 10-active limit: complete the oldest active consultation, then open the one
        that was asked for."""
        w = self.widget
        if w._client is None:
            await w._connect_client()
        assert w._client is not None
        oldest = await oldest_active(w._client)
        if oldest is not None:
            await w._client.complete_consultation(oldest.id)
            logger.info("completed the oldest active consultation %s", oldest.id)
        if w._consultation is None:
            await w._ensure_ready()
        else:
            await w._open(resume=False)
        await self.refresh_consultations()

    # -- explore drawer -----------------------------------------------------------------

    async def simulate_drop(self) -> None:
        """Drop the live socket on purpose."""
        consultation = await self.widget._ensure_ready()
        await consultation.simulate_live_drop()

    async def set_faults(self, faults: dict[str, Any]) -> None:
        """Merge ``faults`` into the reference server's (an empty dict clears them all)."""
        w = self.widget
        await w._ensure_ready()
        client = w._client
        if client is None or w.server_kind != "reference":
            raise ConfigurationError(
                "Faults can only be switched on the reference server; this chat talks to a "
                "remote backend."
            )
        if faults:
            w.faults = dict(await client.set_faults(**faults))
        else:
            w.faults = dict(await client.clear_faults())

    # -- closing ------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Cancel every task, close the consultation and (if the widget made it) the client."""
        w = self.widget
        for task in (w._turn_task, self.switch_task, w._connect_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, LumeError):
                    await task
        await w._drop_consultation()
        client, w._client = w._client, None
        if client is not None and w._owns_client:
            try:
                await asyncio.wait_for(client.aclose(), CLIENT_CLOSE_TIMEOUT_S)
            except (LumeError, TimeoutError) as exc:
                logger.warning("closing the client did not finish cleanly: %r", exc)

    def holds_resources(self) -> bool:
        """True while a client, consultation or task is left to close."""
        w = self.widget
        tasks = (w._turn_task, self.switch_task, getattr(w, "_connect_task", None))
        return (
            w._client is not None
            or w._consultation is not None
            or any(task is not None and not task.done() for task in tasks)
        )

    def release(self) -> None:
        """Shut down from synchronous code: scheduled when called on the running loop,
        waited for (15 s at most) from another thread, skipped at interpreter exit."""
        runner = self.widget._runner
        if not self.holds_resources() or runner.loop.is_closed():
            return
        if runner.on_loop_thread() and runner.loop.is_running():
            runner.submit(self.shutdown())
        elif runner.loop.is_running() and not sys.is_finalizing():
            # At interpreter exit the loop thread is frozen: never wait for it then.
            future = asyncio.run_coroutine_threadsafe(self.shutdown(), runner.loop)
            with contextlib.suppress(Exception):
                future.result(15)
