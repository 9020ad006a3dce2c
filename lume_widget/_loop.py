"""Running coroutines from synchronous code: which event loop to use, and nesting on a running one.

Every synchronous entry point of the package (``connect(...)`` and its
:class:`~lume_widget.client.SyncConsultation`, ``ChatWidget.ask``, ``evaluate``) comes here
to decide where its coroutines run. The policy:

- **A loop is already running on this thread** (a Jupyter kernel, or any code called from
  a coroutine): everything runs on that loop. A blocking call re-enters it with
  ``nest_asyncio`` (:func:`run_until_complete`), the only way synchronous code inside a
  cell can wait for a coroutine and still let the loop make progress. Work that must go on
  while the kernel keeps handling messages (a chat reply streaming while Stop and typing
  still arrive) is started as tasks on that same loop instead of being waited for.
- **No loop is running** (a plain script): the package makes its own loop. An object that
  holds sockets (a client, a consultation) must keep that loop for its whole life, because
  streams and transports belong to the loop that opened them; ``asyncio.run`` per call
  would close the loop and strand them. Two shapes serve that:

  * :class:`BlockingRunner` keeps a private loop that the caller's thread drives during
    each call and that nothing runs between calls. Enough when all work happens inside a
    call (``SyncConsultation``), and one-off work (``evaluate``) uses it once through
    :func:`run_blocking`, which behaves like ``asyncio.run``.
  * :func:`background_loop` is one loop per process running for ever in a daemon thread,
    for objects whose work goes on between calls (a ChatWidget's connection opened in its
    constructor, its flush timers, messages from the front end arriving on other threads).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
import threading
import weakref
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Protocol, TypeVar

__all__ = [
    "BlockingRunner",
    "background_loop",
    "enable_nesting",
    "run_blocking",
    "run_until_complete",
    "running_loop",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_nested_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
_background_lock = threading.Lock()
_background_loop: asyncio.AbstractEventLoop | None = None
_background_thread_id: int | None = None


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running on this thread, or None in plain synchronous code."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def enable_nesting(loop: asyncio.AbstractEventLoop) -> None:
    """Let ``loop.run_until_complete`` re-enter ``loop`` while it is running (nest_asyncio).

    nest_asyncio patches asyncio for the whole process, as it would in a kernel anyway, so
    it is applied only when a blocking call is made inside a running loop.
    """
    if loop in _nested_loops:
        return
    import nest_asyncio

    nest_asyncio.apply(loop)
    _let_callbacks_run_in_their_entered_context()
    _nested_loops.add(loop)
    logger.debug("nest_asyncio applied so blocking calls can run inside the running loop")


_handles_patched = False


def _context_entered(context: contextvars.Context) -> bool:
    """True when ``context`` is entered somewhere up this thread's stack."""
    try:
        context.run(bool)
    except RuntimeError:
        return True
    return False


def _let_callbacks_run_in_their_entered_context() -> None:
    """Run a callback whose context is already entered in place, instead of losing it.

    A nested ``run_until_complete`` runs inside a callback of the outer loop, so that
    callback's context stays entered while the nested loop runs other callbacks. asyncio
    runs each callback with ``context.run``, which refuses a context that is already
    entered: the callback is dropped with "cannot enter context ... is already entered".
    ipykernel 7 starts every shell request as a task in one shared context, so during a
    blocking ``chat.ask()`` in a cell every request that arrived (the panel's Stop, the next
    queued cell) was silently lost. The context entered up the stack is the current one
    (nested callbacks enter and leave their own), so such a callback is run directly,
    exactly as ``context.run`` would have run it; every other callback runs as before.
    """
    global _handles_patched
    if _handles_patched:
        return
    original = asyncio.Handle._run

    def _run(self: asyncio.Handle) -> None:
        context: contextvars.Context = self._context  # type: ignore[attr-defined]
        if not _context_entered(context):
            original(self)
            return
        callback, args = self._callback, self._args  # type: ignore[attr-defined]
        try:
            callback(*args)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler(  # type: ignore[attr-defined]
                {"message": f"Exception in callback {callback!r}", "exception": exc, "handle": self}
            )

    asyncio.Handle._run = _run  # type: ignore[method-assign]
    _handles_patched = True


def run_until_complete(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on ``loop`` from the thread that drives it, nesting if the loop is running."""
    if loop.is_running():
        enable_nesting(loop)
    return loop.run_until_complete(coro)


class _CallerDrivenLoop(Protocol):
    """What :class:`BlockingRunner` needs of a private loop (``asyncio.Runner``'s shape)."""

    def get_loop(self) -> asyncio.AbstractEventLoop: ...

    def run(
        self, coro: Coroutine[Any, Any, T], *, context: contextvars.Context | None = None
    ) -> T: ...

    def close(self) -> None: ...


class _LoopUntilClosed:
    """``asyncio.Runner`` for Python 3.10: a private loop, cleaned up the way asyncio.run does."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def run(self, coro: Coroutine[Any, Any, T], *, context: contextvars.Context | None = None) -> T:
        return self._loop.run_until_complete(coro)

    def close(self) -> None:
        loop = self._loop
        if loop.is_closed():
            return
        try:
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def _private_loop() -> _CallerDrivenLoop:
    if sys.version_info >= (3, 11):
        # a loop_factory keeps the thread's current event loop as the caller left it
        return asyncio.Runner(loop_factory=asyncio.new_event_loop)
    return _LoopUntilClosed()  # pragma: no cover - Python 3.10


class BlockingRunner:
    """Runs coroutines to completion from synchronous code, on one loop for the runner's life.

    Made inside a running loop it runs every call on that loop (nesting with nest_asyncio)
    and never closes it. Made in plain synchronous code it owns a private loop, driven by
    the calling thread during each call; :meth:`close` cancels what is left on it, shuts
    down its async generators and default executor, and closes it, as ``asyncio.run``
    does. Calls must come from the thread that made the runner, one at a time.
    """

    def __init__(self) -> None:
        running = running_loop()
        self._private: _CallerDrivenLoop | None
        if running is not None:
            enable_nesting(running)
            self._private = None
            self.loop = running
        else:
            self._private = _private_loop()
            self.loop = self._private.get_loop()

    def __repr__(self) -> str:
        kind = "private loop" if self.owned else "running loop"
        state = "closed" if self.loop.is_closed() else "open"
        return f"BlockingRunner({kind}, {state})"

    @property
    def owned(self) -> bool:
        """True when the runner made its loop (plain script) and closes it on :meth:`close`."""
        return self._private is not None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to completion and return its result (or raise its exception)."""
        if self._private is None:
            return run_until_complete(self.loop, coro)
        # a copy of the caller's context per call, as loop.run_until_complete would take
        return self._private.run(coro, context=contextvars.copy_context())

    def close(self) -> None:
        """Close the private loop, if the runner made one; safe to call more than once."""
        if self._private is not None and not self.loop.is_closed():
            self._private.close()

    def __enter__(self) -> BlockingRunner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` once from synchronous code: ``asyncio.run`` in a script, nested in a cell."""
    with BlockingRunner() as runner:
        return runner.run(coro)


def background_loop() -> tuple[asyncio.AbstractEventLoop, int]:
    """The process-wide loop running in a daemon thread, and that thread's ident.

    Started on first use (and again if it was closed); shared by every object that asks.
    """
    global _background_loop, _background_thread_id
    with _background_lock:
        if _background_loop is None or _background_loop.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            thread = threading.Thread(target=serve, name="lume-widget-loop", daemon=True)
            thread.start()
            ready.wait()
            _background_loop, _background_thread_id = loop, thread.ident
            logger.debug("started the private event loop thread")
        assert _background_thread_id is not None
        return _background_loop, _background_thread_id
