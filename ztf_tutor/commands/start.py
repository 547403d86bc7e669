"""`ztf start`: the Textual tutor. The only command that imports Textual."""

from __future__ import annotations

import argparse

from ._common import add_workspace_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("start", help="open the tutor in the terminal",
                                   description="Open the tutor on your workspace. It reruns a lesson's checkpoint "
                                   "each time you save one of its files.")
    add_workspace_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..tui import launch  # Textual is imported here and nowhere else on the CLI's path.

    return launch(args)
