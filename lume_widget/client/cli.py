"""``lume-widget chat``: talk to a persona from the terminal, streaming each reply as it arrives.

Each message argument is one turn. Plain output prints the reply text as it streams;
``--json`` prints one JSON object per turn (reply, ids, tier and metrics). With no URL
(and no ``LUME_URL``) the embedded reference server is started. Errors print one line on
stderr, in the command line's words (``-v`` or ``LUME_DEBUG=1``: the traceback too), and exit 1;
usage errors exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from typing import Any, TextIO

from lume_widget.core.events import ChunkReceived, ReplyCompleted, TierChanged, TurnFailed
from lume_widget.defaults import PERSONAS
from lume_widget.errors import LumeError
from lume_widget.presentation import print_cli_error

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``chat`` options to ``parser``."""
    parser.add_argument("messages", nargs="+", metavar="MESSAGE", help="one turn per message")
    parser.add_argument(
        "--url", help="backend base URL (default: LUME_URL, else the embedded server)"
    )
    parser.add_argument("--persona", default="general_wellness", choices=PERSONAS)
    parser.add_argument("--goal-id", help="server id of a goal for a goal-aware consultation")
    parser.add_argument("--consultation-id", help="continue this consultation instead")
    parser.add_argument(
        "--new", action="store_true", help="always start a new consultation (do not resume)"
    )
    parser.add_argument("--tier", choices=("live", "rest", "legacy"), help="pin a delivery tier")
    parser.add_argument("--json", action="store_true", help="one JSON object per turn on stdout")
    parser.add_argument("--api-key", help="API key (default: LUME_API_KEY)")
    parser.add_argument("--email", help="login email (default: LUME_EMAIL)")
    parser.add_argument("--password", help="login password (default: LUME_PASSWORD)")
    parser.add_argument(
        "--token", help="access token instead of email/password (default: LUME_TOKEN)"
    )


def run(args: argparse.Namespace) -> int:
    """Run the turns; returns the exit status."""
    try:
        return asyncio.run(_chat(args, sys.stdout))
    except LumeError as exc:
        print_cli_error(exc, "lume-widget chat", verbose=getattr(args, "verbose", 0) > 0)
        return 1


async def _chat(args: argparse.Namespace, out: TextIO) -> int:
    from lume_widget.client.lume_client import LumeClient

    client = await LumeClient.connect(
        args.url,
        api_key=args.api_key,
        email=args.email,
        password=args.password,
        token=args.token,
        start_backend=getattr(args, "start_backend", None),
    )
    async with client:
        chat = await client.open(
            args.persona,
            args.goal_id,
            args.consultation_id,
            resume=not args.new,
            tier=args.tier,
        )
        for message in args.messages:
            failed = await _turn(chat, message, out, as_json=args.json)
            if failed is not None:
                verbose = getattr(args, "verbose", 0) > 0
                print_cli_error(failed, "lume-widget chat", verbose=verbose)
                return 1
    return 0


async def _turn(chat: Any, message: str, out: TextIO, *, as_json: bool) -> LumeError | None:
    streamed = False
    async with contextlib.aclosing(chat.stream(message)) as events:
        async for event in events:
            if isinstance(event, ChunkReceived) and not as_json:
                out.write(event.text)
                out.flush()
                streamed = True
            elif isinstance(event, TierChanged) and not as_json:
                print(
                    f"[tier {event.previous} -> {event.tier}: {event.reason}]",
                    file=sys.stderr,
                )
            elif isinstance(event, ReplyCompleted):
                reply = event.reply
                if as_json:
                    out.write(json.dumps(reply.to_dict()) + "\n")
                else:
                    if not streamed:
                        out.write(reply.text)
                    out.write("\n")
                out.flush()
                return None
            elif isinstance(event, TurnFailed):
                if streamed:
                    out.write("\n")
                return event.error
    return LumeError("The consultation closed before the reply arrived.")
