"""Settings of the reference server and its switchable faults, as plain dataclasses.

``ServerConfig`` is what ``lume-widget serve`` builds from its flags and what tests and
the embedded launcher build directly. ``Faults`` is the set of misbehaviours the server
can be told to show, from the command line or at run time through ``/admin/faults``;
its field names are the JSON keys of that admin API (see docs/reference-server.md).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lume_widget import defaults

Profile = Literal["observed", "spec"]
PROFILES: tuple[str, ...] = ("observed", "spec")
RESPONDERS: tuple[str, ...] = ("scripted", "openai")
CLOSE_MODES: tuple[str, ...] = ("clean", "abrupt")


class FaultError(ValueError):
    """A fault setting that does not exist or has a value of the wrong kind."""


@dataclass
class Faults:
    """Misbehaviours the server shows on demand. All off by default.

    Integer "after K chunks" faults count the ``stream_chunk`` events of one reply.
    Rates are fractions in [0, 1], applied deterministically (rate 0.5 fails every
    second request) so tests do not depend on luck.
    """

    refuse_ws_upgrade: int | None = None
    ws_close_after_chunks: int | None = None
    ws_close_mode: str = "clean"
    ws_close_after_connect: bool = False
    ws_stall_after_chunks: int | None = None
    ws_omit_stream_complete: bool = False
    ws_pack_events: int = 1
    ws_malformed_frames: bool = False
    ws_unknown_frames: bool = False
    http_error_rate: float = 0.0
    http_error_status: int = 500
    rate_limit_rate: float = 0.0
    rate_limit_retry_after_s: int = 1
    latency_ms: int = 0
    reply_delay_ms: int = 0
    """The model takes this long before its first word, on every tier (a slow backend whose
    other routes answer at once): before the first ``stream_chunk``, or before a reply sent
    over REST or legacy is stored."""
    chunk_delay_ms: int | None = None
    legacy_down: bool = False
    drop_replies: bool = False
    """Replies to messages sent over REST or legacy are generated and thrown away: the message
    is acknowledged and never answered (a backend that loses replies)."""

    def to_dict(self) -> dict[str, Any]:
        """The faults as the JSON body of ``GET``/``PUT /admin/faults``."""
        return dataclasses.asdict(self)

    def merged(self, changes: dict[str, Any]) -> Faults:
        """A copy with ``changes`` applied; raises FaultError naming the bad key or value."""
        current = self.to_dict()
        known = set(current)
        for key, value in changes.items():
            if key not in known:
                raise FaultError(f"unknown fault {key!r}; known faults: {', '.join(sorted(known))}")
            current[key] = _coerce(key, value)
        return Faults(**current)

    def active(self) -> dict[str, Any]:
        """Only the faults that differ from their defaults (for banners and logs)."""
        base = Faults().to_dict()
        return {k: v for k, v in self.to_dict().items() if base[k] != v}


_OPTIONAL_INT = {
    "refuse_ws_upgrade",
    "ws_close_after_chunks",
    "ws_stall_after_chunks",
    "chunk_delay_ms",
}
_BOOL = {
    "ws_close_after_connect",
    "ws_omit_stream_complete",
    "ws_malformed_frames",
    "ws_unknown_frames",
    "legacy_down",
    "drop_replies",
}
_RATE = {"http_error_rate", "rate_limit_rate"}


def _coerce(key: str, value: Any) -> Any:
    def bad(expected: str) -> FaultError:
        return FaultError(f"fault {key!r} expects {expected}, got {value!r}")

    if key in _BOOL:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if key in _RATE:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise bad("a number between 0 and 1")
        return float(value)
    if key == "ws_close_mode":
        if value not in CLOSE_MODES:
            raise bad("'clean' or 'abrupt'")
        return value
    if key in _OPTIONAL_INT and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise bad("a non-negative integer" + (" or null" if key in _OPTIONAL_INT else ""))
    if key == "refuse_ws_upgrade" and not 400 <= value <= 599:
        raise bad("an HTTP error status between 400 and 599, or null")
    if key == "http_error_status" and not 500 <= value <= 599:
        raise bad("a 5xx status")
    if key == "ws_pack_events" and value < 1:
        raise bad("an integer of at least 1 (1 means one event per frame)")
    return value


def default_data_dir() -> Path:
    """Where the server keeps its database unless told otherwise (per user, per platform)."""
    override = os.environ.get("LUME_DATA_DIR")
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "lume_widget"


def default_db_path() -> str:
    return str(default_data_dir() / "reference.sqlite3")


@dataclass
class ServerConfig:
    """Everything the reference server needs to run. Defaults suit tests: port 0, in memory."""

    host: str = defaults.DEFAULT_HOST
    port: int = 0
    db: str = ":memory:"
    profile: str = "observed"
    api_key: str = defaults.DEFAULT_API_KEY
    email: str = defaults.DEFAULT_EMAIL
    password: str = defaults.DEFAULT_PASSWORD
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    access_ttl_s: float = 900.0
    refresh_ttl_s: float = 30 * 24 * 3600.0
    responder: str = "scripted"
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_api_key: str | None = field(default=None, repr=False)
    chunk_delay_ms: int = 0
    max_active_consultations: int = 10
    max_body_bytes: int = 64 * 1024
    conflict_on_duplicate: bool = False
    complete_with_message: bool = False
    """``stream_complete`` also carries the stored reply as ``message`` (a Message with its
    ``reply_to``), so a client needs no history read to learn its id. The observed backend
    sends no id there; this is what one that wants to save its clients that read could add."""
    faults: Faults = field(default_factory=Faults)
    busy_timeout_ms: int = 5000
    """How long one SQLite statement waits for a lock held by another connection."""
    store_retry_s: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
    """Waits between attempts to store a generated reply whose write failed (locked, read-only
    file, full disk); after the last, the reply is kept in memory and stored in the background,
    and the client hears at once that it was not stored (an error frame, or 503 on a poll)."""

    def __repr__(self) -> str:
        # Secrets stay out of reprs (and therefore out of logs and tracebacks).
        return (
            f"ServerConfig(host={self.host!r}, port={self.port}, db={self.db!r}, "
            f"profile={self.profile!r}, responder={self.responder!r}, "
            f"access_ttl_s={self.access_ttl_s}, chunk_delay_ms={self.chunk_delay_ms})"
        )

    def validate(self) -> None:
        """Raise ValueError with a user-facing explanation for an unusable setting."""
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r}: use 'observed' or 'spec'")
        if self.responder not in RESPONDERS:
            raise ValueError(f"unknown responder {self.responder!r}: use 'scripted' or 'openai'")
        if self.responder == "openai" and importlib.util.find_spec("openai") is None:
            raise ValueError(
                "the openai responder needs the openai package, an optional extra: "
                "pip install 'lume-widget[openai]'"
            )
        if self.responder == "openai" and not self.openai_base_url and not self.openai_api_key:
            raise ValueError(
                "the openai responder needs an endpoint: pass --openai-base-url "
                "(or OPENAI_BASE_URL) and/or --openai-api-key (or OPENAI_API_KEY)"
            )
        if self.access_ttl_s <= 0:
            raise ValueError("--access-ttl must be a positive number of seconds")
        if not self.api_key or not self.email or not self.password:
            raise ValueError("the API key, email and password must not be empty")
        if len(self.password) < 8:
            raise ValueError("the demo user's password must have at least 8 characters")
        if self.chunk_delay_ms < 0:
            raise ValueError("--chunk-delay-ms must not be negative")
