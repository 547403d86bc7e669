"""`ztf lessons`, `ztf status` and `ztf hint`: the learner's progress through the curriculum."""

from __future__ import annotations

import argparse

from rich.table import Table

from ..attempts import show_next_hint
from ..curriculum import curriculum
from ..errors import WorkspaceError
from ..progress import PASSED, Progress
from ..workspace import Workspace
from ._common import add_workspace_option, print_json, stdout, workspace_from

STATE_STYLE = {"passed": "green", "failing": "red", "in progress": "yellow", "not started": "dim"}


def register(subparsers: argparse._SubParsersAction) -> None:
    lessons = subparsers.add_parser("lessons", help="list every lesson with its state and files",
                                    description="List each lesson's id, title, phase, state and learner files.")
    add_workspace_option(lessons)
    lessons.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    lessons.set_defaults(handler=run_lessons)

    status = subparsers.add_parser("status", help="show progress per phase and lesson",
                                   description="Show how many lessons of each phase have passed.")
    add_workspace_option(status)
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(handler=run_status)

    hint = subparsers.add_parser("hint", help="show the next step of a lesson's hint ladder",
                                 description="Show the next hint for LESSON. Each call reveals one more step.")
    add_workspace_option(hint)
    hint.add_argument("lesson", help="lesson id, e.g. 1.2")
    hint.set_defaults(handler=run_hint)


def lesson_rows(args: argparse.Namespace, require_workspace: bool = True) -> list[dict]:
    """Build one row per lesson. Without a workspace (when allowed) the state is None and paths are relative."""
    try:
        workspace: Workspace | None = workspace_from(args)
    except WorkspaceError:
        if require_workspace:
            raise
        workspace = None
    progress = Progress(workspace) if workspace else None
    rows = []
    for lesson in curriculum().lessons:
        rows.append({
            "id": lesson.id,
            "title": lesson.title,
            "phase": lesson.phase,
            "phase_title": lesson.phase_title,
            "state": progress.state(lesson) if progress else None,
            "files": [str(workspace.path(relative)) if workspace else relative for relative in lesson.files],
            "tiers": sorted(lesson.tiers),
            "needs_gpu": lesson.needs_gpu,
        })
    return rows


def run_lessons(args: argparse.Namespace) -> int:
    rows = lesson_rows(args, require_workspace=False)
    if args.json:
        print_json(rows)
        return 0
    table = Table(box=None, pad_edge=False)
    for column in ("id", "lesson", "phase", "state", "files"):
        table.add_column(column)
    for row in rows:
        state = f"[{STATE_STYLE[row['state']]}]{row['state']}[/]" if row["state"] else "[dim]no workspace[/]"
        table.add_row(row["id"], row["title"], f"{row['phase']} {row['phase_title']}", state, "\n".join(row["files"]))
    stdout.print(table)
    return 0


def run_status(args: argparse.Namespace) -> int:
    rows = lesson_rows(args)
    phases = []
    for phase in curriculum().phases:
        members = [row for row in rows if row["phase"] == phase.number]
        passed = sum(row["state"] == PASSED for row in members)
        phases.append({"phase": phase.number, "title": phase.title, "passed": passed, "lessons": members})
    if args.json:
        print_json({"phases": phases})
        return 0
    for summary in phases:
        total = len(summary["lessons"])
        label = f"{summary['passed']}/{total} passed" if total else "lessons coming"
        stdout.print(f"[bold]Phase {summary['phase']}: {summary['title']}[/]  {label}")
        for row in summary["lessons"]:
            stdout.print(f"  {row['id']:<5} {row['title']:<40} [{STATE_STYLE[row['state']]}]{row['state']}[/]")
    return 0


def run_hint(args: argparse.Namespace) -> int:
    workspace = workspace_from(args)
    lesson = curriculum().lesson(args.lesson)
    step, text = show_next_hint(workspace, lesson)
    stdout.print(f"[bold]Hint {step}/{len(lesson.hints)} for {lesson.id} {lesson.title}[/]\n{text}")
    if step == len(lesson.hints):
        stdout.print("[dim]That was the last hint. The reference solution unlocks after a genuine attempt.[/]")
    return 0
