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
import os
import sys
import traceback
from collections.abc import Callable
from typing import Literal, ParamSpec, TextIO, TypeVar

from lume_widget import defaults
from lume_widget.errors import LumeError, MissingSettingsError

__all__ = [
    "ENV_DEBUG",
    "cli_message",
    "debug_enabled",
    "describe_missing",
    "notebook_lines",
    "print_cli_error",
    "user_facing",
]

ENV_DEBUG = "LUME_DEBUG"
"""Set to 1 for complete tracebacks, chained causes included, everywhere."""

Place = Literal["python", "cli"]
P = ParamSpec("P")
R = TypeVar("R")

_ENV = {
    "url": defaults.ENV_URL,
    "api_key": defaults.ENV_API_KEY,
    "email": defaults.ENV_EMAIL,
    "password": defaults.ENV_PASSWORD,
    "token": defaults.ENV_TOKEN,
}


def debug_enabled() -> bool:
    """Whether ``LUME_DEBUG`` asks for complete tracebacks."""
    return os.environ.get(ENV_DEBUG, "").strip().lower() in ("1", "true", "yes", "on")


def _setting(name: str, place: Place) -> str:
    env = _ENV[name]
    if place == "cli":
        return f"--{name.replace('_', '-')} (or {env})"
    return f"{name}= (or {env})"


def describe_missing(missing: tuple[str, ...], place: Place = "python") -> str:
    """One sentence naming every missing setting, in the words of ``place``.

    ``token`` in ``missing`` means "a token, or an email and a password".
    """
    parts = []
    for name in missing:
        if name == "token":
            parts.append(
                f"{_setting('token', place)}, or {_setting('email', place)} and "
                f"{_setting('password', place)}"
            )
        else:
            parts.append(_setting(name, place))
    them = "them" if len(parts) > 1 or "token" in missing else "it"
    if place == "cli":
        how = f"Give {them}, or leave out --url (and {defaults.ENV_URL})"
    else:
        how = f"Pass {them}, or leave out url= (and {defaults.ENV_URL})"
    return f"Missing {' and '.join(parts)}. {how} to use the embedded reference server."


def _message(exc: LumeError, place: Place) -> str:
    if isinstance(exc, MissingSettingsError):
        return describe_missing(exc.missing, place)
    return exc.message


def cli_message(exc: LumeError) -> str:
    """The message of ``exc`` in the command line's words (flags and environment variables)."""
    return _message(exc, "cli")


def notebook_lines(exc: LumeError) -> list[str]:
    """What a notebook shows for ``exc``: its type and message, and how to see more."""
    return [
        f"{type(exc).__name__}: {_message(exc, 'python')}",
        f"(set {ENV_DEBUG}=1 for the full traceback)",
    ]


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
