"""`ztf journal`: the timeline of attempts, diffs between attempts, the learning log and charts."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from ..curriculum import curriculum
from ..errors import UnknownLessonError, ZtfError
from ..journal import (
    LessonJournal,
    diff_attempts,
    export_markdown,
    format_duration,
    journal_overview,
    journal_summary,
    lesson_journal,
    plot_overview,
)
from ..journal.export import format_time
from ..workspace import Workspace
from ._common import STATUS_STYLE, add_workspace_option, print_json, stdout, workspace_from

ACTIONS = ("diff", "export", "plot")
DEFAULT_LIMIT = 30


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "journal", help="review your attempts: timeline, diffs, learning log, charts",
        description=(
            "Review the journal of your attempts.\n\n"
            "  ztf journal [LESSON] [--json]   timeline: attempts, time to pass, struggle time, hints, reflections\n"
            "  ztf journal diff LESSON [A B]   code between attempts A and B (default: last failing → first passing)\n"
            "  ztf journal export [-o FILE]    Markdown learning log (default: learning-log.md in the workspace)\n"
            "  ztf journal plot [-o PNG]       charts of time per lesson and attempts per day "
            "(default: .ztf/journal.png)\n\n"
            "A and B are attempt numbers (1 is the first, -1 the last) or commit ids from the timeline."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_workspace_option(parser)
    parser.add_argument("words", nargs="*", metavar="ARGS", help="[LESSON] | diff LESSON [A B] | export | plot")
    parser.add_argument("--json", action="store_true", help="print the timeline as JSON")
    parser.add_argument("-o", "--output", metavar="FILE", help="file that export or plot writes")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, metavar="N",
                        help=f"show the last N attempts of a lesson; 0 shows all (default: {DEFAULT_LIMIT})")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    words = list(args.words)
    action = words.pop(0) if words and words[0] in ACTIONS else None
    if args.output and action not in ("export", "plot"):
        raise ZtfError("-o/--output applies only to `ztf journal export` and `ztf journal plot`.")
    workspace = workspace_from(args)
    if action == "diff":
        return run_diff(workspace, words)
    if action in ("export", "plot"):
        if words:
            raise ZtfError(f"`ztf journal {action}` takes no lesson (got {' '.join(words)}).",
                           hint=f"Run `ztf journal {action} [-o FILE]`.")
        return run_export(workspace, args.output) if action == "export" else run_plot(workspace, args.output)
    if len(words) > 1:
        raise ZtfError(f"`ztf journal` takes at most one lesson (got {' '.join(words)}).",
                       hint="Run `ztf journal` for every lesson or `ztf journal 1.2` for one.")
    if args.limit < 0:
        raise ZtfError(f"--limit {args.limit} is invalid.", hint="Give 0 (all attempts) or a positive number.")
    if words:
        return run_lesson(workspace, resolve_lesson(words[0]), args.json, args.limit)
    return run_overview(workspace, args.json)


def resolve_lesson(reference: str) -> str:
    """Resolve an id, check name or title word to a lesson id. An unknown id is kept when it looks like one."""
    try:
        return curriculum().lesson(reference).id
    except UnknownLessonError:
        if reference.replace(".", "").isdigit():
            return reference
        raise


def run_overview(workspace: Workspace, as_json: bool) -> int:
    if as_json:
        print_json(journal_overview(workspace).to_json())
        return 0
    overview = journal_summary(workspace)
    if not overview.lessons:
        stdout.print("Nothing is recorded yet. Run a lesson's checkpoint with `ztf check LESSON`.")
        return 0
    table = Table(box=None, pad_edge=False)
    table.add_column("lesson")
    table.add_column("title", no_wrap=True, overflow="ellipsis", max_width=28)
    for column in ("attempts", "failing", "passed", "first attempt", "time to pass", "struggle", "time on task",
                   "hints", "reflections"):
        table.add_column(column, no_wrap=True)
    for lesson in overview.lessons:
        passed = "[green]yes[/]" if lesson.passed else "[red]no[/]"
        table.add_row(
            lesson.lesson,
            escape(lesson.title),
            str(lesson.attempt_count),
            str(lesson.failed_count),
            passed,
            format_time(lesson.first_attempt_at),
            format_duration(lesson.time_to_pass_s),
            format_duration(lesson.struggle_s),
            format_duration(lesson.time_on_task_s),
            str(max((hint.step for hint in lesson.hints), default=0)),
            str(lesson.reflection_count),
        )
    stdout.print(table)
    stdout.print(f"\n{overview.total_attempts} attempts, {format_duration(overview.total_time_s)} of active work. "
                 "Run `ztf journal LESSON` for a lesson's timeline.")
    return 0


def run_lesson(workspace: Workspace, lesson_id: str, as_json: bool, limit: int) -> int:
    lesson = lesson_journal(workspace, lesson_id)
    if as_json:
        print_json(lesson.to_json())
        return 0
    print_lesson_header(lesson)
    if not lesson.attempts:
        stdout.print(f"No attempts recorded yet. Run `ztf check {lesson_id}`.")
    else:
        print_attempts(lesson, limit)
    for hint in lesson.hints:
        stdout.print(f"[dim]{format_time(hint.at)}[/]  hint {hint.step} shown")
    if lesson.solution_revealed_at:
        stdout.print(f"[dim]{format_time(lesson.solution_revealed_at)}[/]  reference solution shown")
    if lesson.reflections.strip():
        stdout.print("\n[bold]Reflections[/]")
        stdout.out(lesson.reflections.rstrip())
    return 0


def print_lesson_header(lesson: LessonJournal) -> None:
    stdout.print(f"[bold]{lesson.lesson} {escape(lesson.title)}[/]")
    stdout.print(f"first attempt {format_time(lesson.first_attempt_at)}, "
                 f"{lesson.attempt_count} attempts ({lesson.failed_count} failing), "
                 f"time on task {format_duration(lesson.time_on_task_s)}")
    if lesson.first_pass:
        stdout.print(f"passed at attempt {lesson.first_pass.number}, after {format_duration(lesson.time_to_pass_s)} "
                     f"of work; struggle time {format_duration(lesson.struggle_s)}\n")
    else:
        stdout.print(f"not passed yet; struggle time so far {format_duration(lesson.struggle_s)}\n")


def print_attempts(lesson: LessonJournal, limit: int) -> None:
    shown = lesson.attempts[-limit:] if limit else lesson.attempts
    if len(shown) < len(lesson.attempts):
        stdout.print(f"[dim]… {len(lesson.attempts) - len(shown)} earlier attempts; --limit 0 shows all[/]")
    table = Table(box=None, pad_edge=False)
    for column in ("#", "when", "verdict", "took", "tier", "ran", "hints"):
        table.add_column(column, no_wrap=True)
    table.add_column("first failing criterion", no_wrap=True, overflow="ellipsis", max_width=40)
    table.add_column("commit", no_wrap=True)
    for attempt in shown:
        style = STATUS_STYLE.get(attempt.status, "")
        table.add_row(
            str(attempt.number), format_time(attempt.started_at), f"[{style}]{escape(attempt.summary)}[/]",
            f"{attempt.duration_s:.1f} s", attempt.tier, f"{attempt.where} ({attempt.trigger})",
            str(attempt.hints_shown), escape(attempt.first_failing or ""), attempt.commit[:10],
        )
    stdout.print(table)


def run_diff(workspace: Workspace, words: list[str]) -> int:
    if len(words) not in (1, 3):
        raise ZtfError("`ztf journal diff` takes a lesson and optionally two attempts.",
                       hint="For example `ztf journal diff 1.2` or `ztf journal diff 1.2 2 5`.")
    lesson_id = resolve_lesson(words[0])
    old, new = (words[1], words[2]) if len(words) == 3 else (None, None)
    diff = diff_attempts(workspace, lesson_id, old, new)
    stdout.print(f"[bold]{lesson_id}: attempt {diff.old.number} ({escape(diff.old.summary)}, {diff.old.commit[:10]}) → "
                 f"attempt {diff.new.number} ({escape(diff.new.summary)}, {diff.new.commit[:10]})[/]")
    if diff.text.strip():
        stdout.out(diff.text.rstrip("\n"))
    else:
        stdout.print("The files are the same in both attempts.")
    return 0


def run_export(workspace: Workspace, output: str | None) -> int:
    path = Path(output).expanduser() if output else workspace.root / "learning-log.md"
    try:
        export_markdown(workspace, path)
    except OSError as error:
        raise ZtfError(f"cannot write the learning log to {path} ({error.strerror}).",
                       hint="Choose another file with -o FILE.") from None
    stdout.print(f"Wrote the learning log to {path}")
    return 0


def run_plot(workspace: Workspace, output: str | None) -> int:
    path = Path(output).expanduser() if output else workspace.tutor_dir / "journal.png"
    try:
        plot_overview(journal_overview(workspace), path)
    except OSError as error:
        raise ZtfError(f"cannot write the chart to {path} ({error.strerror}).",
                       hint="Choose another file with -o PNG.") from None
    stdout.print(f"Wrote the charts to {path}")
    return 0
