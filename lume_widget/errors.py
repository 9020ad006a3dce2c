"""One exception tree for everything a user of lume_widget can hit.

Every error says what happened and what to do next. Errors raised by httpx and
websockets are translated into this tree in exactly one place per driver and
re-raised ``from`` the original, so callers never need to catch third-party types.

::

    LumeError
    ├── ConfigurationError          bad URL, missing credentials, bad settings
    │   └── MissingSettingsError    every missing setting at once (``missing``)
    ├── InvalidInputError           rejected before anything was sent
    │   ├── InvalidMessageError     empty or longer than 5000 characters after trimming
    │   ├── InvalidPersonaError     not one of the four personas
    │   ├── InvalidIdError          a consultation or goal id that is not a UUID
    │   └── InvalidGoalError        a goal missing a required field, or with a bad type or value
    ├── ApiError                    the backend answered with an error status
    │   ├── AuthenticationError     401 that a token refresh could not cure, wrong API key
    │   ├── PermissionDeniedError   403: not the owner
    │   ├── NotFoundError           404: unknown consultation or goal
    │   ├── ConsultationNotActiveError   the consultation was completed; start a new one
    │   ├── TooManyConsultationsError    429 on create: at most 10 active per user
    │   ├── RateLimitedError        429/503 with Retry-After elsewhere
    │   └── ServerError             5xx
    ├── ConnectionFailedError       the backend could not be reached on any tier
    │   └── SocketFailure           one WebSocket could not be opened (``status``: a refused upgrade's)
    ├── IllegalTransition           an input the state does not allow now; nothing was changed
    ├── TurnTimeoutError            no complete reply within the turn deadline
    └── TurnCancelledError          the user stopped the reply

Errors about a message that was not delivered carry ``unsent_text`` so that nothing
the user typed is lost; errors about a reply cut short carry ``partial_text``.

An error says itself in the words of the place that shows it (:meth:`LumeError.describe`:
``"python"`` for calls and notebooks, ``"cli"`` for the command line); a notebook shows
:func:`notebook_lines`, and ``LUME_DEBUG=1`` (:func:`debug_enabled`) asks for every traceback
complete. The rest of how errors reach a person (one line on the command line, no chained
traceback from the synchronous calls) is :mod:`lume_widget.presentation`, which builds on
this module and is never imported by it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Literal

from lume_widget import defaults

__all__ = [
    "ENV_DEBUG",
    "ApiError",
    "AuthenticationError",
    "ConfigurationError",
    "ConnectionFailedError",
    "ConsultationNotActiveError",
    "IllegalTransition",
    "InvalidGoalError",
    "InvalidIdError",
    "InvalidInputError",
    "InvalidMessageError",
    "InvalidPersonaError",
    "LumeError",
    "MissingSettingsError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ServerError",
    "SocketFailure",
    "TooManyConsultationsError",
    "TurnCancelledError",
    "TurnTimeoutError",
    "debug_enabled",
    "describe_missing",
    "notebook_lines",
]

ENV_DEBUG = "LUME_DEBUG"
"""Set to 1 for complete tracebacks, chained causes included, everywhere."""

Place = Literal["python", "cli"]
"""Where an error is shown: Python calls and notebooks, or the command line."""

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


def notebook_lines(exc: LumeError) -> list[str]:
    """What a notebook shows for ``exc``: its type and message, and how to see more."""
    return [
        f"{type(exc).__name__}: {exc.describe('python')}",
        f"(set {ENV_DEBUG}=1 for the full traceback)",
    ]


class LumeError(Exception):
    """Base of every error lume_widget raises.

    ``unsent_text`` is the user's message when it was not (or may not have been)
    delivered, so a caller can offer it again; ``partial_text`` is whatever part of
    the reply had arrived when the turn ended early.
    """

    def __init__(
        self,
        message: str,
        *,
        unsent_text: str | None = None,
        partial_text: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.unsent_text = unsent_text
        self.partial_text = partial_text

    def __str__(self) -> str:
        return self.message

    def describe(self, place: Place) -> str:
        """The message in the words of ``place`` (``"python"`` or ``"cli"``)."""
        return self.message

    @property
    def _render_traceback_(self) -> Callable[[], list[str]]:
        """IPython's hook: a notebook shows the error's message, not a chained traceback.

        Absent (so IPython prints the whole traceback) when ``LUME_DEBUG=1``.
        """
        if debug_enabled():
            raise AttributeError("_render_traceback_")
        return lambda: notebook_lines(self)


class ConfigurationError(LumeError):
    """The client was set up wrongly: a malformed URL, missing credentials, a bad setting."""


class MissingSettingsError(ConfigurationError):
    """Settings the client needs were given nowhere; ``missing`` names them all at once.

    Each entry is a keyword argument of :meth:`LumeClient.connect` (``api_key``, ``email``,
    ``password``, ``token``; ``token`` stands for "``token``, or ``email`` and ``password``").
    The message says it in Python's words; the command line says it in flags and
    environment variables (:func:`describe_missing`).
    """

    def __init__(self, message: str, *, missing: tuple[str, ...]) -> None:
        super().__init__(message)
        self.missing = missing

    def describe(self, place: Place) -> str:
        return describe_missing(self.missing, place)


class InvalidInputError(LumeError, ValueError):
    """Input was rejected before anything was sent to the backend."""


class InvalidMessageError(InvalidInputError):
    """A message is empty or longer than the backend accepts (1..5000 characters after trimming)."""


class InvalidPersonaError(InvalidInputError):
    """A persona that is not nutritionist, fitness_coach, wellness_specialist or general_wellness."""


class InvalidIdError(InvalidInputError):
    """A consultation or goal id that is not a UUID."""


class InvalidGoalError(InvalidInputError):
    """A goal the backend would refuse: a required field missing, an unknown type, a value below 0.

    ``problems`` maps each bad field (``title``, ``goal_type``, ``target_value``, ...) to
    what is wrong with it, so a form can show each message next to its field.
    """

    def __init__(self, message: str, *, problems: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.problems = dict(problems or {})


class ApiError(LumeError):
    """The backend answered with an error status.

    ``status`` is the HTTP status (or the WebSocket handshake status), ``code`` and
    ``details`` come from the error envelope when the backend sent them.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        unsent_text: str | None = None,
        partial_text: str | None = None,
    ) -> None:
        super().__init__(message, unsent_text=unsent_text, partial_text=partial_text)
        self.status = status
        self.code = code
        self.details = details or {}


class AuthenticationError(ApiError):
    """Credentials were refused: wrong API key, wrong password, or a token that refresh could not renew."""


class PermissionDeniedError(ApiError):
    """403: the consultation or goal belongs to another user."""


class NotFoundError(ApiError):
    """404: the consultation or goal does not exist on this server."""


class ConsultationNotActiveError(ApiError):
    """The consultation is completed (or otherwise not active) and takes no more messages."""


class TooManyConsultationsError(ApiError):
    """429 on create: the backend allows at most 10 active consultations per user."""


class RateLimitedError(ApiError):
    """429 or 503 with Retry-After; ``retry_after`` is the wait the server asked for, in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(ApiError):
    """The backend failed (5xx) more often than the retry policy allows."""


class ConnectionFailedError(LumeError):
    """The backend could not be reached on any tier (dead URL, network down, every tier failed)."""


class SocketFailure(ConnectionFailedError):
    """A WebSocket could not be opened; ``status`` is the refused upgrade's HTTP status, if any.

    The session core decides what it means (retry, fall back to REST); a user sees it only
    through the error of the turn it ended."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class IllegalTransition(LumeError, RuntimeError):
    """An input arrived that the current state does not allow; nothing was changed."""


class TurnTimeoutError(LumeError):
    """No complete reply arrived within the turn deadline; ``partial_text`` keeps what did arrive."""


class TurnCancelledError(LumeError):
    """The user stopped the reply; ``partial_text`` keeps what had arrived."""
