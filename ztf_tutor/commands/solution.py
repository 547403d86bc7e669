"""`ztf solution LESSON`: the reference solution beside your code, once you made a genuine attempt.

The unlock rule lives here so that the Textual app applies the same one: at least
`learning.solution_min_failed_attempts` recorded failing attempts and
`learning.solution_min_minutes` minutes of work on the lesson.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from rich.syntax import Syntax
from rich.table import Table

from ..attempts import record_solution_reveal
from ..config import Settings, load_settings
from ..curriculum import Lesson, curriculum
from ..errors import ZtfError
from ..progress import Progress
from ..workspace import Workspace
from ._common import add_workspace_option, print_json, stdout, workspace_from


@dataclass(frozen=True)
class SolutionFile:
    """One learner file with the reference version of it."""

    relative: str
    learner: str
    reference: str


def solution_lock_reason(workspace: Workspace, lesson: Lesson, settings: Settings) -> str | None:
    """Why the reference solution is still locked, or None when it may be shown."""
    entry = Progress(workspace).get(lesson.id)
    if entry.solution_revealed_at is not None:
        return None
    need_failed = settings.learning.solution_min_failed_attempts
    need_minutes = settings.learning.solution_min_minutes
    minutes = entry.active_seconds / 60
    missing = []
    if entry.failed_attempts < need_failed:
        missing.append(f"{need_failed} failing check run{'s' if need_failed != 1 else ''} "
                       f"(you have {entry.failed_attempts})")
    if minutes < need_minutes:
        missing.append(f"{need_minutes:g} minute{'s' if need_minutes != 1 else ''} of work on the lesson "
                       f"(you have {minutes:.0f} so far)")
    if not missing:
        return None
    return (f"The reference solution for {lesson.id} unlocks after " + " and ".join(missing) + ". "
            "Save your attempt to run the check, and use the hints (`h` in the tutor, `ztf hint` in the shell) first.")


def solution_files(workspace: Workspace, lesson: Lesson) -> list[SolutionFile]:
    """Pair the lesson's learner files with their reference versions."""
    files = []
    for relative in lesson.files:
        try:
            learner = workspace.path(relative).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            learner = ""
        reference = (lesson.reference_dir / relative).read_text(encoding="utf-8")
        files.append(SolutionFile(relative, learner, reference))
    return files


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "solution", help="show a lesson's reference solution beside your code",
        description="Show LESSON's reference solution side by side with your files. It unlocks after at least one "
        "failing check run and 30 minutes of work on the lesson (see [learning] in the config).",
        epilog="Exit codes: 0 shown, 2 still locked or a usage error.",
    )
    add_workspace_option(parser)
    parser.add_argument("lesson", help="lesson id, e.g. 1.2")
    parser.add_argument("--json", action="store_true", help="print the files as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    workspace = workspace_from(args)
    lesson = curriculum().lesson(args.lesson)
    reason = solution_lock_reason(workspace, lesson, load_settings())
    if reason is not None:
        raise ZtfError(reason, hint=f"`ztf hint {lesson.id}` shows the next hint now.")
    files = solution_files(workspace, lesson)
    record_solution_reveal(workspace, lesson)
    if args.json:
        print_json([{"file": item.relative, "yours": item.learner, "reference": item.reference} for item in files])
        return 0
    for item in files:
        table = Table(title=item.relative, expand=True)
        table.add_column("your code", ratio=1)
        table.add_column("reference", ratio=1)
        table.add_row(Syntax(item.learner, "python", line_numbers=True, word_wrap=True),
                      Syntax(item.reference, "python", line_numbers=True, word_wrap=True))
        stdout.print(table)
    return 0
