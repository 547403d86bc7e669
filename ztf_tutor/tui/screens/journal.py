"""A minimal journal: progress per lesson and the reflections saved so far."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Markdown

from ...attempts import reflection_path
from ...curriculum import Curriculum
from ...progress import Progress
from ...workspace import Workspace
from ..format import duration


def journal_markdown(workspace: Workspace, lessons: Curriculum) -> str:
    """Each lesson that has any activity, with attempts, time, hints and reflections."""
    progress = Progress(workspace)
    parts = ["# Journal"]
    for lesson in lessons.lessons:
        entry = progress.get(lesson.id)
        if entry.attempts == 0 and entry.active_seconds == 0 and entry.hints_shown == 0:
            continue
        parts.append(f"## {lesson.id} {lesson.title}\n\n{progress.state(lesson)} · {entry.attempts} checks "
                     f"({entry.failed_attempts} failing) · {duration(entry.active_seconds)} of work · "
                     f"{entry.hints_shown} hints" + (" · solution revealed" if entry.solution_revealed_at else ""))
        try:
            parts.append(reflection_path(workspace, lesson).read_text(encoding="utf-8").split("\n", 1)[1])
        except (OSError, IndexError):
            pass
    if len(parts) == 1:
        parts.append("Nothing yet. Save a lesson file to run your first check.")
    return "\n\n".join(parts)


class JournalScreen(Screen[None]):
    """The journal, read-only; Escape or j returns to the lesson."""

    BINDINGS = [("escape", "dismiss", "Back"), ("j", "dismiss", "Back")]

    def __init__(self, workspace: Workspace, lessons: Curriculum) -> None:
        super().__init__()
        self.workspace = workspace
        self.lessons = lessons

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Markdown(journal_markdown(self.workspace, self.lessons))
        yield Footer()
