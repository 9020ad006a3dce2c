"""``lume-widget serve`` (and ``python -m lume_widget.server``): run the reference server.

Prints the base URL, the API key, the demo user's credentials and the admin token when it
is listening (or one JSON line with ``--ready-json``, for the embedded launcher), and
refuses to listen beyond loopback while the public default credentials are in use.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from typing import Any

from lume_widget import defaults
from lume_widget.server.config import (
    CLOSE_MODES,
    PROFILES,
    RESPONDERS,
    FaultError,
    Faults,
    ServerConfig,
    default_db_path,
)
from lume_widget.server.faults import is_loopback


def _env(name: str, fallback: str | None) -> str | None:
    return os.environ.get(name) or fallback


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve`` options to ``parser``."""
    net = parser.add_argument_group("network")
    net.add_argument(
        "--host", default=defaults.DEFAULT_HOST, help="address to bind (default %(default)s)"
    )
    net.add_argument(
        "--port",
        type=int,
        default=defaults.DEFAULT_PORT,
        help="port, 0 picks a free one (default %(default)s)",
    )
    data = parser.add_argument_group("data and behaviour")
    data.add_argument(
        "--db", default=None, help=f"SQLite file, or :memory: (default {default_db_path()})"
    )
    data.add_argument(
        "--profile",
        choices=PROFILES,
        default="observed",
        help="wire profile: what production sends (observed) or the 0.34 OpenAPI shapes (spec)",
    )
    data.add_argument(
        "--access-ttl",
        type=float,
        default=900.0,
        metavar="SECONDS",
        help="access token lifetime (default %(default)s; short values test refresh)",
    )
    data.add_argument(
        "--refresh-ttl",
        type=float,
        default=30 * 24 * 3600.0,
        metavar="SECONDS",
        help="refresh token lifetime (default 30 days)",
    )
    data.add_argument(
        "--chunk-delay-ms",
        type=int,
        default=30,
        help="pause before each streamed chunk (default %(default)s; 0 for benchmarks)",
    )
    data.add_argument(
        "--max-active",
        type=int,
        default=10,
        help="active consultations per user before 429 (default %(default)s)",
    )
    data.add_argument(
        "--max-body-bytes",
        type=int,
        default=64 * 1024,
        help="request bodies above this get 413 (default %(default)s)",
    )
    data.add_argument(
        "--conflict-on-duplicate",
        action="store_true",
        help="deprecated backend behaviour: 409 CONSULTATION_EXISTS for a second active consultation of the same persona and goal",
    )
    data.add_argument(
        "--complete-with-message",
        action="store_true",
        help="stream_complete also carries the stored reply as message (the observed backend "
        "sends no id there), so clients need no history read after a stream",
    )
    creds = parser.add_argument_group("credentials (also from the environment)")
    creds.add_argument(
        "--api-key", default=None, help=f"API key clients must send (env {defaults.ENV_API_KEY})"
    )
    creds.add_argument(
        "--email", default=None, help=f"demo user's email (env {defaults.ENV_EMAIL})"
    )
    creds.add_argument(
        "--password", default=None, help=f"demo user's password (env {defaults.ENV_PASSWORD})"
    )
    creds.add_argument(
        "--admin-token",
        default=None,
        help=f"token for /admin/faults (env {defaults.ENV_ADMIN_TOKEN}; default: random, printed)",
    )
    resp = parser.add_argument_group("responder")
    resp.add_argument(
        "--responder",
        choices=RESPONDERS,
        default="scripted",
        help="who writes replies (default %(default)s)",
    )
    resp.add_argument(
        "--openai-base-url", default=None, help="OpenAI-compatible endpoint (env OPENAI_BASE_URL)"
    )
    resp.add_argument(
        "--openai-model", default=None, help="model name (env OPENAI_MODEL, default gpt-4o-mini)"
    )
    resp.add_argument(
        "--openai-api-key", default=None, help="key for that endpoint (env OPENAI_API_KEY)"
    )
    faults = parser.add_argument_group("faults (all switchable at run time through /admin/faults)")
    faults.add_argument(
        "--refuse-ws-upgrade",
        type=int,
        default=None,
        metavar="STATUS",
        help="refuse WebSocket upgrades with this HTTP status",
    )
    faults.add_argument(
        "--ws-close-after-chunks",
        type=int,
        default=None,
        metavar="K",
        help="close the socket after K chunks of a reply",
    )
    faults.add_argument(
        "--ws-close-mode",
        choices=CLOSE_MODES,
        default="clean",
        help="close with code 1000 (clean) or a TCP reset (abrupt)",
    )
    faults.add_argument(
        "--ws-close-after-connect",
        action="store_true",
        help="close every socket right after 'connected'",
    )
    faults.add_argument(
        "--ws-stall-after-chunks",
        type=int,
        default=None,
        metavar="K",
        help="stop sending after K chunks, still answering pings",
    )
    faults.add_argument(
        "--ws-omit-stream-complete", action="store_true", help="never send stream_complete"
    )
    faults.add_argument(
        "--ws-pack-events",
        type=int,
        default=1,
        metavar="N",
        help="pack N events per text frame, newline-separated",
    )
    faults.add_argument(
        "--ws-malformed-frames",
        action="store_true",
        help="send an invalid JSON line before every chunk",
    )
    faults.add_argument(
        "--ws-unknown-frames",
        action="store_true",
        help="send an event of an unknown type before every chunk",
    )
    faults.add_argument(
        "--http-error-rate",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="answer this fraction of API requests with --http-error-status",
    )
    faults.add_argument(
        "--http-error-status",
        type=int,
        default=500,
        help="the 5xx status for --http-error-rate (default %(default)s)",
    )
    faults.add_argument(
        "--rate-limit-rate",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="answer this fraction of API requests with 429",
    )
    faults.add_argument(
        "--rate-limit-retry-after",
        type=int,
        default=1,
        metavar="SECONDS",
        help="Retry-After of those 429s (default %(default)s)",
    )
    faults.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        help="extra latency for every REST answer and every reply's first chunk",
    )
    faults.add_argument(
        "--reply-delay-ms",
        type=int,
        default=0,
        help="the model takes this long before the first word of every reply (other routes "
        "answer at once)",
    )
    faults.add_argument(
        "--legacy-down", action="store_true", help="the legacy chat channel answers 503"
    )
    faults.add_argument(
        "--drop-replies",
        action="store_true",
        help="acknowledge REST and legacy messages but never answer them",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--ready-json",
        action="store_true",
        help="print one JSON line {url, api_key, email, password, admin_token} when listening",
    )
    out.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop when standard input closes (for launchers: the server dies with its parent)",
    )


def faults_from_args(args: argparse.Namespace) -> Faults:
    return Faults().merged(
        {
            "refuse_ws_upgrade": args.refuse_ws_upgrade,
            "ws_close_after_chunks": args.ws_close_after_chunks,
            "ws_close_mode": args.ws_close_mode,
            "ws_close_after_connect": args.ws_close_after_connect,
            "ws_stall_after_chunks": args.ws_stall_after_chunks,
            "ws_omit_stream_complete": args.ws_omit_stream_complete,
            "ws_pack_events": args.ws_pack_events,
            "ws_malformed_frames": args.ws_malformed_frames,
            "ws_unknown_frames": args.ws_unknown_frames,
            "http_error_rate": args.http_error_rate,
            "http_error_status": args.http_error_status,
            "rate_limit_rate": args.rate_limit_rate,
            "rate_limit_retry_after_s": args.rate_limit_retry_after,
            "latency_ms": args.latency_ms,
            "reply_delay_ms": args.reply_delay_ms,
            "legacy_down": args.legacy_down,
            "drop_replies": args.drop_replies,
        }
    )


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """Flags first, then the environment, then the shared defaults."""
    kwargs: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "db": args.db or default_db_path(),
        "profile": args.profile,
        "api_key": args.api_key or _env(defaults.ENV_API_KEY, defaults.DEFAULT_API_KEY),
        "email": args.email or _env(defaults.ENV_EMAIL, defaults.DEFAULT_EMAIL),
        "password": args.password or _env(defaults.ENV_PASSWORD, defaults.DEFAULT_PASSWORD),
        "access_ttl_s": args.access_ttl,
        "refresh_ttl_s": args.refresh_ttl,
        "responder": args.responder,
        "openai_base_url": args.openai_base_url or _env("OPENAI_BASE_URL", None),
        "openai_model": args.openai_model or _env("OPENAI_MODEL", "gpt-4o-mini"),
        "openai_api_key": args.openai_api_key or _env("OPENAI_API_KEY", None),
        "chunk_delay_ms": args.chunk_delay_ms,
        "max_active_consultations": args.max_active,
        "max_body_bytes": args.max_body_bytes,
        "conflict_on_duplicate": args.conflict_on_duplicate,
        "complete_with_message": args.complete_with_message,
        "faults": faults_from_args(args),
    }
    admin = args.admin_token or _env(defaults.ENV_ADMIN_TOKEN, None)
    if admin:
        kwargs["admin_token"] = admin
    return ServerConfig(**kwargs)


def refuse_public_defaults(config: ServerConfig) -> str | None:
    """The reason not to start, when a public address would be guarded by public secrets."""
    if is_loopback(config.host):
        return None
    weak = []
    if config.api_key == defaults.DEFAULT_API_KEY:
        weak.append(f"--api-key (or {defaults.ENV_API_KEY})")
    if config.password == defaults.DEFAULT_PASSWORD:
        weak.append(f"--password (or {defaults.ENV_PASSWORD})")
    if not weak:
        return None
    return (
        f"refusing to listen on {config.host}: the default API key and demo password are "
        f"public, so anyone on the network could use this server. Pass your own "
        f"{' and '.join(weak)}, or listen on 127.0.0.1."
    )


def banner(server: Any, config: ServerConfig) -> str:
    active = config.faults.active()
    lines = [
        "Lume reference server is running.",
        f"  base URL     {server.url}",
        f"  API key      {config.api_key}",
        f"  demo user    {config.email} / {config.password}",
        f"  admin token  {config.admin_token}   (X-Admin-Token for {server.url}/admin/faults)",
        f"  profile      {config.profile}; responder {config.responder}; database {config.db}",
    ]
    if active:
        lines.append(f"  faults       {json.dumps(active)}")
    lines += [
        "",
        f"  Clients: export {defaults.ENV_URL}={server.url}  (the client reads "
        f"{defaults.ENV_API_KEY}, {defaults.ENV_EMAIL}, {defaults.ENV_PASSWORD} too)",
        "  Stop with Ctrl-C.",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from lume_widget.server.runner import ReferenceServer

    try:
        config = config_from_args(args)
        config.validate()
    except (ValueError, FaultError) as exc:
        print(f"lume-widget serve: {exc}", file=sys.stderr)
        return 2
    reason = refuse_public_defaults(config)
    if reason:
        print(f"lume-widget serve: {reason}", file=sys.stderr)
        return 2
    server = ReferenceServer(config)
    try:
        server.start()
    except OSError as exc:
        print(
            f"lume-widget serve: cannot listen on {config.host}:{config.port}: {exc.strerror}. "
            "Pick another --port (0 chooses a free one).",
            file=sys.stderr,
        )
        return 1
    except RuntimeError as exc:
        print(f"lume-widget serve: {exc}", file=sys.stderr)
        return 1
    if args.ready_json:
        ready = {
            "url": server.url,
            "api_key": config.api_key,
            "email": config.email,
            "password": config.password,
            "admin_token": config.admin_token,
        }
        print(json.dumps(ready), flush=True)
    else:
        print(banner(server, config), flush=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    if args.exit_on_stdin_eof:
        threading.Thread(target=_watch_stdin, args=(stop,), name="stdin-watch", daemon=True).start()
    try:
        while not stop.is_set() and server.running:
            stop.wait(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _watch_stdin(stop: threading.Event) -> None:
    """Set ``stop`` when standard input reaches EOF (the launching process went away)."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    stop.set()


def main(argv: list[str] | None = None) -> int:
    import logging

    parser = argparse.ArgumentParser(
        prog="python -m lume_widget.server", description="Run the Lume reference server."
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-v info, -vv debug)"
    )
    configure(parser)
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(args)
