"""The main screen: curriculum tree, lesson text and checkpoint panel."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header

from ...curriculum import Curriculum
from ...progress import Progress
from ..widgets.checkpoint_panel import CheckpointPanel
from ..widgets.curriculum_tree import CurriculumTree
from ..widgets.lesson_view import LessonView


class MainScreen(Screen[None]):
    """Tree on the left; lesson text above the checkpoint panel on the right."""

    def __init__(self, lessons: Curriculum, progress: Progress) -> None:
        super().__init__()
        self.lessons = lessons
        self.progress = progress

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield CurriculumTree(self.lessons, self.progress, id="tree")
            with Vertical(id="lesson-pane"):
                yield LessonView(id="lesson")
                yield CheckpointPanel(id="checkpoint")
        yield Footer()
