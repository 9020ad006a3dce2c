"""The ``lume-widget`` command: ``serve``, ``chat``, ``eval``, ``compare`` and ``demo``.

Each subcommand lives with the code it drives and exposes two functions,
``configure(parser)`` and ``run(args) -> int``; this module only wires them together,
so ``lume-widget --help`` stays fast and each face stays in one place. A LumeError that a
subcommand does not handle is printed by :func:`lume_widget.presentation.print_cli_error`:
one line, the traceback with ``-v`` or ``LUME_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from lume_widget._version import __version__
from lume_widget.entry import START_BACKEND
from lume_widget.errors import LumeError
from lume_widget.presentation import print_cli_error

# subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("lume_widget.server.cli", "run the reference server (the embedded default backend)"),
    "chat": (
        "lume_widget.client.cli",
        "chat with a persona from the terminal, streaming the reply",
    ),
    "eval": ("lume_widget.evaluation.cli", "run scripted persona evaluations from a YAML file"),
    "compare": (
        "lume_widget.evaluation.compare_cli",
        "compare two evaluation runs (exit 1 on a regression)",
    ),
    "demo": ("lume_widget.demo", "open the demo notebooks in JupyterLab on the embedded server"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lume-widget",
        description="Talk to Lume's AI consultation backend: serve, chat, evaluate, demo.",
    )
    parser.add_argument("--version", action="version", version=f"lume-widget {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log more (-v info, -vv debug) and print errors with their traceback",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.configure(sub_parser)
        # `lume-widget chat -v ...` as well as `lume-widget -v chat ...`
        sub_parser.add_argument(
            "-v", "--verbose", action="count", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
        # with no URL anywhere a subcommand's client starts the embedded server
        sub_parser.set_defaults(_run=module.run, start_backend=START_BACKEND)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args._run(args))
    except KeyboardInterrupt:
        return 130
    except LumeError as exc:  # a subcommand that left its errors to the one shared presentation
        print_cli_error(exc, f"lume-widget {args.command}", verbose=args.verbose > 0)
        return 1


if __name__ == "__main__":
    sys.exit(main())
