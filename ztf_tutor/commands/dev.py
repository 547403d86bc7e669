"""`ztf dev lint` and `ztf dev verify`: tools for curriculum authors."""

from __future__ import annotations

import argparse
import os

from ..config import load_settings
from ..curriculum import curriculum, load_curriculum
from ..errors import CurriculumError, ZtfError
from ..verify import verify_lesson
from ._common import print_json, stderr, stdout


def register(subparsers: argparse._SubParsersAction) -> None:
    dev = subparsers.add_parser("dev", help="tools for curriculum authors",
                                description="Validate lesson files and prove that checks tell right from wrong.")
    commands = dev.add_subparsers(dest="dev_command", metavar="COMMAND")

    lint = commands.add_parser("lint", help="validate every lesson file",
                               description="Validate the front matter, sections and checks of every lesson.")
    lint.set_defaults(handler=run_lint)

    verify = commands.add_parser(
        "verify", help="prove each lesson's check: reference passes, stub and known bugs fail",
        description="In a temporary workspace, run each lesson's check on the untouched stub (must fail), the "
        "reference solution (must pass) and every known-bug variant (must fail).",
    )
    verify.add_argument("lessons", nargs="*", metavar="LESSON", help="lesson ids, e.g. 1.2")
    verify.add_argument("--all", action="store_true", help="verify every lesson")
    verify.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="checks run at once (default: CPU count)")
    verify.add_argument("--json", action="store_true", help="print a JSON list with one object per lesson")
    verify.set_defaults(handler=run_verify)
    dev.set_defaults(handler=lambda args: dev.print_help() or 2)


def run_lint(args: argparse.Namespace) -> int:
    try:
        loaded = load_curriculum()
    except CurriculumError as error:
        for problem in error.problems:
            stdout.print(problem, markup=False)
        stdout.print(f"\n{len(error.problems)} problem(s) found.")
        return 1
    stdout.print(f"{len(loaded.lessons)} lessons in {len(loaded.phases)} phases: all valid.")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    if args.all == bool(args.lessons):
        raise ZtfError("name lessons to verify or pass --all, not both and not neither.", hint="Example: ztf dev verify 1.2")
    loaded = curriculum()
    lessons = loaded.lessons if args.all else [loaded.lesson(lesson_id) for lesson_id in args.lessons]
    settings = load_settings()
    reports = []
    for lesson in lessons:
        if not args.json:
            stderr.print(f"[dim]Verifying {lesson.id} {lesson.title}…[/]")
        report = verify_lesson(lesson, settings, jobs=args.jobs)
        reports.append(report)
        if not args.json:
            print_report(report)
    if args.json:
        print_json([report.to_json() for report in reports])
    return 0 if all(report.ok for report in reports) else 1


def print_report(report) -> None:
    mark = "[green]✓[/]" if report.ok else "[red]✗[/]"
    stdout.print(f"{mark} {report.lesson}: reference {report.reference}, stub {report.stub}, "
                 f"{sum(v.ok for v in report.variants)}/{len(report.variants)} known bugs caught")
    for variant in report.variants:
        caught = ", ".join(variant.caught_by) if variant.caught_by else "-"
        stdout.print(f"    {'✓' if variant.ok else '✗'} {variant.name}: {variant.verdict} (caught by: {caught})", markup=False)
    for problem in report.problems:
        stdout.print(f"    [red]{problem}[/]")
