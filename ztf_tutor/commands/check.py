"""`ztf check LESSON`: run a lesson's checkpoint and print the verdict."""

from __future__ import annotations

import argparse

from rich.markup import escape
from rich.table import Table

from ..attempts import record_attempt
from ..config import load_settings
from ..curriculum import curriculum
from ..errors import ZtfError
from ..journal.records import read_snapshot
from ..runner import run_check
from ..verdict import PASS, SKIP, CheckResult
from ._common import (
    STATUS_MARK,
    STATUS_STYLE,
    add_workspace_option,
    print_json,
    stderr,
    stdout,
    workspace_from,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check", help="run a lesson's checkpoint",
        description="Run LESSON's checkpoint against your files and show each criterion with its measured value.",
        epilog="Exit codes: 0 every criterion passed, 1 the checkpoint failed, 2 a usage or setup error.",
    )
    add_workspace_option(parser)
    parser.add_argument("lesson", help="lesson id, e.g. 1.2")
    parser.add_argument("--tier", choices=("fast", "full"), default="fast",
                        help="fast runs in seconds on a laptop CPU; full is the real checkpoint (default: fast)")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="stop the check after this many seconds")
    parser.add_argument("--json", action="store_true", help="print the verdict as one JSON object")
    parser.add_argument("--output", action="store_true", help="also print what your code printed")
    parser.add_argument("--remote", metavar="NAME", help="run on the remote NAME over ssh (see `ztf remote --help`)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    workspace = workspace_from(args)
    lesson = curriculum().lesson(args.lesson)
    if args.tier not in lesson.tiers:
        raise ZtfError(f"lesson {lesson.id} has no {args.tier} tier.", hint=f"Its tiers: {', '.join(lesson.tiers)}.")
    if args.timeout is not None and args.timeout <= 0:
        raise ZtfError(f"--timeout {args.timeout:g} is invalid.", hint="Give a positive number of seconds.")
    settings = load_settings()
    if args.remote:
        from .remote import run_remote_check

        return run_remote_check(args, workspace, lesson, settings)
    if not args.json:
        stderr.print(f"[dim]Checking {lesson.id} {lesson.title} ({args.tier} tier)…[/]")
    snapshot = read_snapshot(workspace.root, lesson)
    result = run_check(workspace.root, lesson, args.tier, settings=settings, timeout_s=args.timeout)
    record_attempt(workspace, lesson, result, trigger="manual", snapshot=snapshot)
    if args.json:
        print_json(result.to_json(include_output=args.output))
    else:
        print_verdict(result, show_output=args.output)
    return 0 if result.status == PASS else 1


def print_verdict(result: CheckResult, show_output: bool = False) -> None:
    table = Table(box=None, pad_edge=False, show_header=True)
    table.add_column("")
    table.add_column("criterion", ratio=3)
    table.add_column("measured", ratio=2)
    table.add_column("threshold")
    for criterion in result.criteria:
        style = STATUS_STYLE.get(criterion.status, "")
        table.add_row(f"[{style}]{STATUS_MARK.get(criterion.status, '?')}[/]", escape(criterion.name),
                      escape(criterion.measured or ""), escape(criterion.threshold or ""))
        if criterion.status != PASS and criterion.message:
            table.add_row("", f"[{style}]{escape(criterion.message)}[/]", "", "")
    stdout.print(table)
    style = STATUS_STYLE.get(result.status, "")
    counts = result.counts()
    stdout.print(f"\n[{style}]{result.status.upper()}[/]  {counts['pass']}/{len(result.criteria)} criteria passed "
                 f"in {result.duration_s:.1f} s")
    if result.message:
        stdout.print(f"[{style}]{escape(result.message)}[/]")
    if result.status == SKIP:
        stdout.print(f"[{style}]{counts['skip']} criteria could not run here; their messages say what they need.[/]")
    if show_output and result.output:
        stdout.print("\n[bold]Output of your code:[/]")
        stdout.out(result.output)
    elif result.output_bytes:
        stdout.print(f"[dim]Your code printed {result.output_bytes:,} bytes; add --output to see them.[/]")
