"""How errors reach a person: one place for the command line, the synchronous calls and notebooks.

- On the command line a :class:`~lume_widget.errors.LumeError` is printed as
  ``lume-widget <command>: <message>``, in the words of the command line (flags and
  environment variables); ``-v`` or ``LUME_DEBUG=1`` adds the full traceback with its causes.
- The synchronous calls (``lume_widget.connect(...)``, ``ChatWidget.ask(...)``) raise the error
  without the chain of library exceptions behind it and without lume_widget's internal frames,
  so a script shows the line that called it and the message.
- In a notebook IPython shows the message alone (``LumeError._render_traceback_``).

``LUME_DEBUG=1`` turns all of that off: every traceback complete, causes included.
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from typing import ParamSpec, TextIO, TypeVar

from lume_widget.errors import (
    ENV_DEBUG,
    LumeError,
    debug_enabled,
    describe_missing,
    notebook_lines,
)

__all__ = [
    "ENV_DEBUG",
    "cli_message",
    "debug_enabled",
    "describe_missing",
    "notebook_lines",
    "print_cli_error",
    "user_facing",
]
"""``ENV_DEBUG``, ``debug_enabled``, ``describe_missing`` and ``notebook_lines`` live in
:mod:`lume_widget.errors` (an error renders itself in a notebook); they are exported here
too, so everything about how errors reach a person can be imported from one place."""

P = ParamSpec("P")
R = TypeVar("R")


def cli_message(exc: LumeError) -> str:
    """The message of ``exc`` in the command line's words (flags and environment variables)."""
    return exc.describe("cli")


def print_cli_error(
    exc: LumeError, command: str, *, verbose: bool = False, file: TextIO | None = None
) -> None:
    """Print ``exc`` for the command line: one line, or the whole traceback with ``-v``."""
    out = file if file is not None else sys.stderr
    if verbose or debug_enabled():
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=out)
    print(f"{command}: {cli_message(exc)}", file=out)


def user_facing(function: Callable[P, R]) -> Callable[P, R]:
    """Raise a LumeError from ``function`` as the caller should see it.

    Without ``LUME_DEBUG``, the chain of causes (httpx, websockets, asyncio) and the frames
    inside lume_widget are dropped, so a script's traceback is the caller's line and the
    message. The error object itself (type, message, ``unsent_text``, ...) is unchanged.
    """

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except LumeError as exc:
            if debug_enabled():
                raise
            raise exc.with_traceback(None) from None

    return wrapper
