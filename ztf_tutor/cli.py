"""The `ztf` command line: thin subcommands over the headless core.

Exit codes: 0 the checkpoint passed (or the command succeeded), 1 a checkpoint failed,
2 a usage or setup error. Results go to stdout, diagnostics to stderr. Only `ztf start`
imports Textual.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import __version__
from .commands import COMMAND_MODULES
from .errors import ZtfError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class Parser(argparse.ArgumentParser):
    """argparse with exit code 2 and a pointer to --help on usage errors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"ztf: error: {message}\nRun `{self.prog} --help` for the options.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="ztf",
        description="Zero-to-Frontier: build deep learning from scratch, with a checkpoint on every save.",
        epilog="Exit codes: 0 pass or success, 1 a checkpoint failed, 2 a usage or setup error.",
    )
    parser.add_argument("--version", action="version", version=f"ztf {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser



def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="ztf: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.handler(args) or 0)
    except ZtfError as error:
        print(f"ztf: {error.title.lower()}: {error.message}", file=sys.stderr)
        if error.hint:
            print(error.hint, file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("ztf: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
