"""`ztf init`: scaffold or update a learner workspace."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..workspace import init_workspace
from ._common import stdout


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "init", help="create or update a learner workspace",
        description="Copy the lesson stubs into DIR. Run it again after upgrading ztf: it adds new "
        "lessons' files and never overwrites a file you changed.",
    )
    parser.add_argument("dir", nargs="?", default=".", help="the workspace folder (default: this folder)")
    parser.set_defaults(handler=run_init)


def run_init(args: argparse.Namespace) -> int:
    workspace, report = init_workspace(Path(args.dir))
    stdout.print(f"Workspace: [bold]{workspace.root}[/]")
    for label, items in (("created", report.created), ("updated", report.updated), ("kept (you changed them)", report.kept)):
        if items:
            stdout.print(f"  {label}: {len(items)} file(s)")
            for item in items:
                stdout.print(f"    {item}")
    if not report.created and not report.updated:
        stdout.print("  Everything is up to date.")
    stdout.print(f"\nNext: [bold]cd {workspace.root}[/] and run [bold]ztf start[/], or [bold]ztf check 1.2[/] from the shell.")
    return 0
