"""What the panel's buttons and pickers do: stop, retry, new consultation, switch, explore.

A mixin of :class:`~lume_widget.widget.chat.ChatWidget`. Each action has a coroutine that
runs on the widget's loop (the front end triggers it through a custom message or a trait
write) and, for code and notebooks, a synchronous or ``*_async`` counterpart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

import traitlets

from lume_widget.defaults import PERSONAS
from lume_widget.errors import ConfigurationError, LumeError
from lume_widget.widget.consultations import drawer_list, oldest_active
from lume_widget.widget.model import TIERS

if TYPE_CHECKING:
    from lume_widget.client import Consultation, LumeClient
    from lume_widget.core.events import Reply
    from lume_widget.widget.runner import LoopRunner

__all__ = ["ActionsMixin"]

logger = logging.getLogger(__name__)

Handler = Callable[[Mapping[str, Any]], Coroutine[Any, Any, None]]


class ActionsMixin(traitlets.HasTraits):
    """Stop, retry, new consultation, persona/goal switching, explore-drawer actions, closing."""

    if TYPE_CHECKING:
        # Provided by ChatWidget.
        _runner: LoopRunner
        _client: LumeClient | None
        _owns_client: bool
        _consultation: Consultation | None
        _turn_task: asyncio.Task[Reply] | None
        _switch_task: asyncio.Future[None] | None
        _switching: bool
        _connect_task: asyncio.Future[None]
        persona: str
        goal_id: str
        pinned_tier: str
        tier_reason: str
        _ready_to_switch: bool
        unsent_text: str
        error: str
        server_kind: str
        faults: dict[str, Any]
        consultation_id: str

        def _ensure_ready(self) -> Coroutine[Any, Any, Consultation]: ...
        def _connect_client(self) -> Coroutine[Any, Any, LumeClient]: ...
        def _drop_consultation(self) -> Coroutine[Any, Any, None]: ...
        def _load_goals(self) -> Coroutine[Any, Any, None]: ...
        def _turn_in_flight(self) -> bool: ...
        def _spawn_turn(self, text: str) -> None: ...
        def _update_input(self) -> None: ...
        def _show_error(self, message: str, action: str = "") -> None: ...
        def _show_failure(self, exc: LumeError) -> None: ...
        def _open(
            self, *, resume: bool, consultation_id: str | None = None
        ) -> Coroutine[Any, Any, Consultation]: ...

        _owner: int
        _closed_consultation: bool
        consultations: list[dict[str, Any]]

    def _front_end_handlers(self) -> dict[str, Handler]:
        async def send(content: Mapping[str, Any]) -> None:
            self._spawn_turn(str(content.get("text", "")))

        async def retry(_content: Mapping[str, Any]) -> None:
            await self.retry_async()

        async def stop(_content: Mapping[str, Any]) -> None:
            await self._stop()

        async def new_consultation(_content: Mapping[str, Any]) -> None:
            await self._new_consultation()

        async def simulate_drop(_content: Mapping[str, Any]) -> None:
            await self._simulate_drop()

        async def set_faults(content: Mapping[str, Any]) -> None:
            faults = content.get("faults") or {}
            if not isinstance(faults, Mapping):
                raise ConfigurationError("set_faults needs a JSON object of fault settings.")
            await self._set_faults(dict(faults))

        def consultation_id(content: Mapping[str, Any]) -> str:
            value = content.get("id")
            if not isinstance(value, str) or not value:
                raise ConfigurationError("This action needs the id of a consultation.")
            return value

        async def list_consultations(_content: Mapping[str, Any]) -> None:
            await self._refresh_consultations()

        async def open_consultation(content: Mapping[str, Any]) -> None:
            await self._open_consultation(consultation_id(content))

        async def complete_consultation(content: Mapping[str, Any]) -> None:
            await self._complete_consultation(consultation_id(content))

        async def delete_consultation(content: Mapping[str, Any]) -> None:
            await self._delete_consultation(consultation_id(content))

        async def complete_oldest(_content: Mapping[str, Any]) -> None:
            await self._complete_oldest()

        async def refresh_goals(_content: Mapping[str, Any]) -> None:
            await self._load_goals()  # quietly: no connection yet means nothing to refresh

        return {
            "list_consultations": list_consultations,
            "open_consultation": open_consultation,
            "complete_consultation": complete_consultation,
            "delete_consultation": delete_consultation,
            "complete_oldest": complete_oldest,
            "refresh_goals": refresh_goals,
            "send": send,
            "retry": retry,
            "stop": stop,
            "new_consultation": new_consultation,
            "simulate_drop": simulate_drop,
            "set_faults": set_faults,
        }

    # -- trait observers (the pickers write traits) ------------------------------------

    @traitlets.observe("persona", "goal_id")
    def _on_scope_change(self, change: dict[str, Any]) -> None:
        if not self._ready_to_switch:
            return
        if change["name"] == "persona" and change["new"] not in PERSONAS:
            self.error = f"Unknown persona {change['new']!r}. Choose one of: {', '.join(PERSONAS)}."
            self.persona = change["old"]
            return
        self._schedule_switch()

    @traitlets.observe("pinned_tier")
    def _on_pinned_tier(self, change: dict[str, Any]) -> None:
        if not self._ready_to_switch:
            return
        value = change["new"]
        if value not in ("", *TIERS):
            self.error = f"Unknown tier {value!r}. Pin one of: {', '.join(TIERS)}, or none."
            self.pinned_tier = change["old"]
            return
        self._runner.call_soon(self._apply_pin)

    def _apply_pin(self) -> None:
        if self._consultation is not None:
            self._consultation.pin_tier(self.pinned_tier or None)
            if self.pinned_tier:
                self.tier_reason = f"pinned to {self.pinned_tier}"
            else:
                self.tier_reason = "automatic: the client falls back between tiers on its own"

    # -- stop and retry -------------------------------------------------------------

    def stop(self) -> None:
        """Stop the reply in flight; the text received so far stays as a stopped message."""
        self._runner.call_soon(self._cancel_turn)

    def _cancel_turn(self) -> None:
        if self._turn_task is not None and not self._turn_task.done():
            self._turn_task.cancel()

    async def _stop(self) -> None:
        task = self._turn_task
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, LumeError):
            await task

    async def retry_async(self) -> None:
        """Send the text of the last failed send again (connecting again if needed)."""
        text = self.unsent_text
        if self._consultation is None and not text:
            await self._ensure_ready()
            return
        if not text:
            raise LumeError("There is nothing to retry: the last message was delivered.")
        self._spawn_turn(text)

    # -- scope: persona, goal, new consultation -------------------------------------

    def _schedule_switch(self) -> None:
        """Open the consultation matching the current persona and goal (after the traits settle)."""
        self._switching = True
        self._update_input()

        async def switch() -> None:
            try:
                await self._switch()
            finally:
                self._switching = False
                self._update_input()

        def start() -> None:
            previous = self._switch_task
            if previous is not None and not previous.done():
                previous.cancel()
            task = asyncio.get_running_loop().create_task(switch())
            task.add_done_callback(_report_failure(self))
            self._switch_task = task

        self._runner.call_soon(start)

    async def _switch(self) -> None:
        await self._stop()
        if self._client is None:
            # Not connected yet: the first connection opens the chosen persona and goal.
            return
        current = self._consultation
        if (
            current is not None
            and current.persona == self.persona
            and (current.goal_id or "") == self.goal_id
        ):
            return
        await self._load_goals()
        await self._open(resume=True)

    async def switch_async(self, persona: str | None = None, goal_id: str | None = None) -> None:
        """Switch persona and/or goal and wait until the matching consultation is open."""
        if persona is not None:
            self.persona = persona
        if goal_id is not None:
            self.goal_id = goal_id
        await self._runner.await_here(self._settle_switch())

    def switch(self, persona: str | None = None, goal_id: str | None = None) -> None:
        """Blocking form of :meth:`switch_async` (a notebook cell or a plain script)."""
        if persona is not None:
            self.persona = persona
        if goal_id is not None:
            self.goal_id = goal_id
        self._runner.run_blocking(self._settle_switch())

    async def _settle_switch(self) -> None:
        await asyncio.sleep(0)  # let a just-scheduled switch start
        task = self._switch_task
        if task is not None and not task.done():
            await asyncio.shield(task)
        await self._ensure_ready()

    async def _new_consultation(self) -> None:
        await self._stop()
        await self._ensure_ready()
        old = self._consultation
        if old is not None:
            try:
                await old.complete()
            except LumeError as exc:
                logger.info("completing the previous consultation failed: %s", exc)
        await self._open(resume=False)

    async def new_consultation_async(self) -> None:
        """Complete the current consultation and start a fresh one with the same persona and goal."""
        await self._runner.await_here(self._new_consultation())

    def new_consultation(self) -> None:
        """Blocking form of :meth:`new_consultation_async`."""
        self._runner.run_blocking(self._new_consultation())

    async def refresh_goals_async(self) -> None:
        """Reload the goal picker from the server (after creating a goal, say)."""
        await self._runner.await_here(self._refresh_goals())

    def refresh_goals(self) -> None:
        """Blocking form of :meth:`refresh_goals_async`."""
        self._runner.run_blocking(self._refresh_goals())

    async def _refresh_goals(self) -> None:
        await self._ensure_ready()
        await self._load_goals()

    # -- consultations drawer -------------------------------------------------------

    async def _refresh_consultations(self) -> None:
        consultation = await self._ensure_ready()
        assert self._client is not None
        self.consultations = await drawer_list(
            self._client, self.persona, self.goal_id, current=consultation.id, owner=self._owner
        )

    async def _open_consultation(self, consultation_id: str) -> None:
        await self._stop()
        await self._ensure_ready()
        await self._open(resume=True, consultation_id=consultation_id)
        await self._refresh_consultations()

    async def _complete_consultation(self, consultation_id: str) -> None:
        await self._ensure_ready()
        assert self._client is not None
        info = await self._client.complete_consultation(consultation_id)
        if self._consultation is not None and info.id == self._consultation.id:
            await self._stop()
            self._closed_consultation = True
            self._update_input()
        await self._refresh_consultations()

    async def _delete_consultation(self, consultation_id: str) -> None:
        current = await self._ensure_ready()
        assert self._client is not None
        if current.id.lower() == consultation_id.lower():
            await self._stop()
            await self._client.delete_consultation(consultation_id)
            await self._open(resume=True)  # another free one of this persona, or a new one
        else:
            await self._client.delete_consultation(consultation_id)
        await self._refresh_consultations()

    async def _complete_oldest(self) -> None:
        if self._client is None:
            await self._connect_client()
        assert self._client is not None
        oldest = await oldest_active(self._client)
        if oldest is not None:
            await self._client.complete_consultation(oldest.id)
            logger.info("completed the oldest active consultation %s", oldest.id)
        if self._consultation is None:
            await self._ensure_ready()
        else:
            await self._open(resume=False)
        await self._refresh_consultations()

    def open_consultation(self, consultation_id: str) -> None:
        """Show the consultation ``consultation_id`` (its history loads; the persona and goal
        pickers follow it). Blocking; see :meth:`open_consultation_async`."""
        self._runner.run_blocking(self._open_consultation(consultation_id))

    async def open_consultation_async(self, consultation_id: str) -> None:
        """Show the consultation ``consultation_id`` and wait until it is open."""
        await self._runner.await_here(self._open_consultation(consultation_id))

    def complete_consultation(self, consultation_id: str) -> None:
        """Complete a consultation of this user (the one shown, or any other) by id."""
        self._runner.run_blocking(self._complete_consultation(consultation_id))

    async def complete_consultation_async(self, consultation_id: str) -> None:
        """Complete a consultation by id and wait for it."""
        await self._runner.await_here(self._complete_consultation(consultation_id))

    async def delete_consultation_async(self, consultation_id: str) -> None:
        """Delete a consultation by id and wait for it."""
        await self._runner.await_here(self._delete_consultation(consultation_id))

    def delete_consultation(self, consultation_id: str) -> None:
        """Delete a consultation for good; deleting the one shown opens another."""
        self._runner.run_blocking(self._delete_consultation(consultation_id))

    def refresh_consultations(self) -> list[dict[str, Any]]:
        """Reload the consultations drawer's list (also the ``consultations`` trait)."""
        self._runner.run_blocking(self._refresh_consultations())
        return list(self.consultations)

    # -- explore drawer -------------------------------------------------------------

    async def _simulate_drop(self) -> None:
        consultation = await self._ensure_ready()
        await consultation.simulate_live_drop()

    def simulate_drop(self) -> None:
        """Drop the live socket on purpose, to watch the fallback happen."""
        self._runner.run_blocking(self._simulate_drop())

    async def _set_faults(self, faults: dict[str, Any]) -> None:
        await self._ensure_ready()
        client = self._client
        if client is None or self.server_kind != "reference":
            raise ConfigurationError(
                "Faults can only be switched on the reference server; this chat talks to a "
                "remote backend."
            )
        if faults:
            self.faults = dict(await client.set_faults(**faults))
        else:
            self.faults = dict(await client.clear_faults())

    def set_faults(self, **faults: Any) -> None:
        """Merge ``faults`` into the reference server's active faults (a null turns one off)."""
        self._runner.run_blocking(self._set_faults(faults))

    def clear_faults(self) -> None:
        """Turn every fault of the reference server off."""
        self._runner.run_blocking(self._set_faults({}))

    # -- closing --------------------------------------------------------------------

    async def _shutdown(self) -> None:
        for task in (self._turn_task, self._switch_task, self._connect_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, LumeError):
                    await task
        await self._drop_consultation()
        client, self._client = self._client, None
        if client is not None and self._owns_client:
            try:
                await asyncio.wait_for(client.aclose(), 5.0)
            except (LumeError, TimeoutError) as exc:
                logger.warning("closing the client did not finish cleanly: %r", exc)

    async def aclose(self) -> None:
        """Close the consultation and (if the widget made it) the client, then the panel."""
        await self._runner.await_here(self._shutdown())
        self._close_comm()

    def close(self) -> None:
        """Close the panel and its connection (scheduled when called on the running loop)."""
        runner = getattr(self, "_runner", None)
        if runner is not None and self._holds_resources() and not runner.loop.is_closed():
            if runner.on_loop_thread() and runner.loop.is_running():
                runner.submit(self._shutdown())
            elif runner.loop.is_running() and not sys.is_finalizing():
                # At interpreter exit the loop thread is frozen: never wait for it then.
                future = asyncio.run_coroutine_threadsafe(self._shutdown(), runner.loop)
                with contextlib.suppress(Exception):
                    future.result(15)
        self._close_comm()

    def _holds_resources(self) -> bool:
        """True while a client, consultation or task is left to close."""
        tasks = (self._turn_task, self._switch_task, getattr(self, "_connect_task", None))
        return (
            self._client is not None
            or self._consultation is not None
            or any(task is not None and not task.done() for task in tasks)
        )

    def _close_comm(self) -> None:
        super().close()  # type: ignore[misc]


def _report_failure(widget: ActionsMixin) -> Callable[[asyncio.Future[None]], None]:
    def done(task: asyncio.Future[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, LumeError):
            widget._show_failure(exc)
        elif exc is not None:
            logger.error("switching consultation failed", exc_info=exc)
            widget._show_error(f"Switching consultation failed: {exc}")

    return done
