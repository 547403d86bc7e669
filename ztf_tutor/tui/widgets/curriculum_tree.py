"""The curriculum tree: every phase with its progress, every lesson with its state."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ...curriculum import Curriculum, Lesson
from ...progress import FAILING, IN_PROGRESS, NOT_STARTED, PASSED, Progress
from ..messages import LessonChosen

STATE_MARK = {NOT_STARTED: ("○", "dim"), IN_PROGRESS: ("◐", "yellow"), FAILING: ("✗", "red"), PASSED: ("✓", "green")}


class CurriculumTree(Tree[Lesson | None]):
    """Phases and lessons; selecting a lesson posts LessonChosen."""

    def __init__(self, lessons: Curriculum, progress: Progress, **kwargs) -> None:
        super().__init__("Curriculum", **kwargs)
        self.lessons = lessons
        self.progress = progress
        self.show_root = False
        self.guide_depth = 2
        self._lesson_nodes: dict[str, TreeNode[Lesson | None]] = {}
        self._phase_nodes: dict[int, TreeNode[Lesson | None]] = {}

    def on_mount(self) -> None:
        """Build one node per phase and one leaf per lesson."""
        for phase in self.lessons.phases:
            node = self.root.add("", data=None, expand=bool(phase.lessons))
            self._phase_nodes[phase.number] = node
            for lesson in phase.lessons:
                self._lesson_nodes[lesson.id] = node.add_leaf("", data=lesson)
        self.refresh_states()

    def refresh_states(self) -> None:
        """Relabel every lesson with its state and every phase with its passed count."""
        for phase in self.lessons.phases:
            passed = 0
            for lesson in phase.lessons:
                state = self.progress.state(lesson)
                passed += state == PASSED
                self._lesson_nodes[lesson.id].set_label(self._lesson_label(lesson, state))
            label = Text(f"{phase.number:>2} {phase.title} ", style="bold")
            label.append(f"{passed}/{len(phase.lessons)}" if phase.lessons else "coming", style="dim")
            self._phase_nodes[phase.number].set_label(label)

    def _lesson_label(self, lesson: Lesson, state: str) -> Text:
        mark, style = STATE_MARK[state]
        label = Text.assemble((f"{mark} ", style), f"{lesson.id} {lesson.title}")
        if lesson.needs_gpu:
            label.append(" GPU", style="magenta")  # the full tier needs a GPU
        return label

    def select_lesson(self, lesson_id: str) -> None:
        """Move the cursor to a lesson without posting LessonChosen."""
        node = self._lesson_nodes.get(lesson_id)
        if node is not None:
            self.move_cursor(node)

    def on_tree_node_selected(self, event: Tree.NodeSelected[Lesson | None]) -> None:
        """Open the selected lesson."""
        if event.node.data is not None:
            event.stop()
            self.post_message(LessonChosen(event.node.data))
