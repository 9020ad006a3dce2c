"""One place mapping an HTTP status and the backend's error text to the project's exception tree."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lume_widget.errors import (
    ApiError,
    AuthenticationError,
    ConnectionFailedError,
    ConsultationNotActiveError,
    InvalidInputError,
    LumeError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TooManyConsultationsError,
)

__all__ = ["certificate_message", "error_for_status", "is_certificate_problem"]


def is_certificate_problem(reason: str) -> bool:
    """Whether a transport failure's text says the server's TLS certificate was not trusted."""
    lowered = reason.lower()
    return "certificate_verify_failed" in lowered or "certificate verify failed" in lowered


def certificate_message(reason: str) -> str:
    """The message for an untrusted certificate: what it is and how to trust one."""
    detail = reason.split("certificate verify failed:", 1)[-1].split("(_ssl", 1)[0].strip(" :")
    return (
        f"The backend's TLS certificate is not trusted ({detail or 'certificate verify failed'}): "
        "a certificate problem, not a server that is down. To trust a self-signed or private "
        "certificate, point SSL_CERT_FILE at its PEM file (export SSL_CERT_FILE=/path/to/ca.pem; "
        "in Python, pass verify='/path/to/ca.pem' to ChatWidget, CompareWidget or connect), "
        "or use the backend's public https URL."
    )


def error_for_status(
    status: int | None,
    message: str,
    *,
    code: str | None = None,
    details: Mapping[str, Any] | None = None,
    unsent_text: str | None = None,
    partial_text: str | None = None,
    retry_after: float | None = None,
    creating: bool = False,
) -> LumeError:
    """The exception for a failed request, saying what happened and what to do next."""
    common: dict[str, Any] = {
        "status": status,
        "code": code,
        "details": dict(details) if details else None,
        "unsent_text": unsent_text,
        "partial_text": partial_text,
    }
    lowered = message.lower()
    if status is None and is_certificate_problem(message):
        return ConnectionFailedError(
            certificate_message(message), unsent_text=unsent_text, partial_text=partial_text
        )
    if status is None:
        return ConnectionFailedError(
            f"The backend could not be reached ({message}). Check the URL and that the server "
            "is running, then try again.",
            unsent_text=unsent_text,
            partial_text=partial_text,
        )
    if status == 401:
        return AuthenticationError(
            f"The backend refused the credentials ({message}). Check the API key "
            "(LUME_API_KEY) and log in again (email/password or a fresh token).",
            **common,
        )
    if status == 403 and ("not active" in lowered or code == "CONSULTATION_NOT_ACTIVE"):
        return ConsultationNotActiveError(
            f"This consultation is no longer active ({message}); open a new one to keep chatting.",
            **common,
        )
    if status == 403:
        return PermissionDeniedError(
            f"Permission denied ({message}): this belongs to another user. Use one of your own "
            "consultations or goals.",
            **common,
        )
    if status == 404:
        return NotFoundError(
            f"Not found ({message}). Check the id; ids come from list_consultations() and "
            "list_goals() on this server.",
            **common,
        )
    # On create, a 429 is the active-consultation limit unless it says it is a request-rate
    # limit (Retry-After or code RATE_LIMITED): only the former needs the user to clean up.
    if status == 429 and creating and retry_after is None and code != "RATE_LIMITED":
        return TooManyConsultationsError(
            "Too many active consultations (the backend allows at most 10 per user). Complete "
            f"or delete some before opening a new one ({message}).",
            **common,
        )
    if (status in (429, 503) and retry_after is not None) or status == 429:
        return RateLimitedError(
            f"The backend is rate limiting requests ({message}); wait a moment and try again.",
            retry_after=retry_after,
            **common,
        )
    if status >= 500:
        return ServerError(
            f"The backend failed ({status}: {message}). Try again shortly; if it persists the "
            "server may be down.",
            **common,
        )
    if status in (400, 413, 422):
        return InvalidInputError(
            f"The backend rejected the request ({status}: {message}). Fix the input and retry.",
            unsent_text=unsent_text,
            partial_text=partial_text,
        )
    return ApiError(f"The backend answered {status}: {message}.", **common)
