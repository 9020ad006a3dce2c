"""Where a ChatWidget's coroutines run: the kernel's event loop, or a private loop thread.

The client's sockets belong to the loop they were opened on, so every coroutine of one
widget runs on one loop, chosen by the policy of ``lume_widget._loop``:

- In a Jupyter kernel (or any code with a running loop) that is the running loop, so a
  streaming reply is an asyncio task next to the kernel's own message handling and Stop
  and typing keep working while it streams.
- In a plain script (no running loop) it is a private loop in a daemon thread, started
  once per process and shared by every widget created there.

``run_blocking`` lets synchronous code (``ChatWidget.ask``) wait for a coroutine either
way: from another thread it waits on a concurrent future; on the loop's own thread (a
notebook cell) it re-enters the running loop with nest_asyncio, which is the only way a
blocking call inside a cell can let the loop make progress.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from lume_widget._loop import background_loop, run_until_complete, running_loop
from lume_widget.errors import ConfigurationError

__all__ = ["LoopRunner", "latest_request_parent"]

T = TypeVar("T")


class LoopRunner:
    """Runs one widget's coroutines on one event loop, from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        if loop is None:
            loop = running_loop()
        if loop is not None:
            self.loop = loop
            self.private = False
            self._thread_id: int | None = threading.get_ident() if loop.is_running() else None
        else:
            self.loop, self._thread_id = background_loop()
            self.private = True

    def on_loop_thread(self) -> bool:
        """True when the caller runs on the thread that drives this runner's loop."""
        if self._thread_id is None:
            return False
        return threading.get_ident() == self._thread_id

    def _check_usable(self) -> None:
        if self.loop.is_closed():
            raise ConfigurationError(
                "The event loop this chat was created on has closed (for example, asyncio.run() "
                "returned). Create the ChatWidget again where it will be used."
            )

    def submit(self, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """Start ``coro`` as a task on the loop; returns an asyncio future of that loop.

        Safe from any thread. On the loop's thread the task is returned directly.
        """
        self._check_usable()
        if self.on_loop_thread():
            return self.loop.create_task(coro)
        result: concurrent.futures.Future[asyncio.Task[T]] = concurrent.futures.Future()

        def start() -> None:
            try:
                result.set_result(self.loop.create_task(coro))
            except BaseException as exc:  # pragma: no cover - loop shutting down
                result.set_exception(exc)

        self.loop.call_soon_threadsafe(start)
        return result.result()

    def call_soon(self, callback: Any, *args: Any) -> None:
        """Run ``callback(*args)`` on the loop's thread (directly when already there)."""
        self._check_usable()
        if self.on_loop_thread():
            callback(*args)
        else:
            self.loop.call_soon_threadsafe(callback, *args)

    async def await_here(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` from whatever loop the caller runs on, running it on this loop."""
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - only called from coroutines
            current = None
        if current is self.loop:
            return await coro
        self._check_usable()
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return await asyncio.wrap_future(future)

    def run_blocking(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to completion on the loop and return its result, blocking the caller."""
        self._check_usable()
        if not self.on_loop_thread():
            if not self.loop.is_running():
                raise ConfigurationError(
                    "The event loop this chat was created on is not running, so nothing can "
                    "complete on it. Use 'await chat.ask_async(...)' inside that loop instead."
                )
            return asyncio.run_coroutine_threadsafe(coro, self.loop).result()
        return run_until_complete(self.loop, coro)


@contextlib.contextmanager
def latest_request_parent(comm: Any) -> Iterator[None]:
    """Send comm messages as replies to the kernel's latest request, on its main shell.

    Two ipykernel behaviours make the default parent wrong for a widget that streams from
    a task:

    - ipykernel takes a message's parent from a context variable that a task copies when
      it is created, so a reply streamed by a task started in cell 1 would be labelled as
      output of cell 1 for ever. Tools that follow a cell's messages (nbclient storing
      widget state, say) drop messages labelled with a cell that has finished; labelling
      them with the request being handled now keeps them.
    - ipykernel 7 routes what the front end sends on a comm to the subshell named in the
      parent of that comm's last message. JupyterLab 4.6 sends comm messages from a
      subshell of its own, and deletes it when the page goes away: a parent naming that
      subshell would send every later message from the panel (a reloaded page's request
      for the draft, Stop, typing) to a subshell that no longer exists, where the kernel
      drops it. The panel's coroutines all run on the main shell's loop, so the parent is
      labelled without a subshell and the kernel routes the panel's messages there.

    Outside a kernel this does nothing.
    """
    kernel = getattr(comm, "kernel", None)
    variable = getattr(kernel, "_shell_parent", None)
    context = getattr(kernel, "_shell_context", None)
    try:
        latest = context[variable] if context is not None and variable is not None else None
    except (KeyError, LookupError, TypeError):
        latest = None
    if not isinstance(latest, dict) or variable is None:
        yield
        return
    token = variable.set(_on_main_shell(latest))
    try:
        yield
    finally:
        variable.reset(token)


def _on_main_shell(parent: dict[str, Any]) -> dict[str, Any]:
    """``parent`` with its header's ``subshell_id`` taken out (the same dict when it has none)."""
    header = parent.get("header")
    if not isinstance(header, dict) or header.get("subshell_id") is None:
        return parent
    return {**parent, "header": {**header, "subshell_id": None}}
