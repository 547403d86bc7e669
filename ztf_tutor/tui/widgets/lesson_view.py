"""The lesson's text: files to edit, GPU notes, then Core Concepts, Build-Along, Checkpoint and Guided Exercise."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Markdown, Static

from ...curriculum import Lesson
from ...workspace import Workspace

SHOWN_SECTIONS = ("Core Concepts", "Build-Along", "Checkpoint", "Guided Exercise")


def files_markdown(workspace: Workspace, lesson: Lesson) -> str:
    """The lesson's learner files with their full paths."""
    lines = [f"- `{relative}` → `{workspace.path(relative)}`" for relative in lesson.files]
    return "**Your files** (press `e` to open the first in your editor):\n\n" + "\n".join(lines)


def gpu_markdown(lesson: Lesson, remotes: list[str], local_gpu: str | None) -> str:
    """How to run a full tier that needs a GPU, or nothing for a CPU lesson."""
    tier = lesson.tiers.get("full")
    if tier is None or not tier.gpu:
        return ""
    lines = ["**The full tier needs a GPU.** Saving runs the fast tier on your CPU."]
    if local_gpu:
        lines.append(f"Your GPU ({local_gpu}) can run it: `ztf check {lesson.id} --tier full`.")
    for name in remotes:
        lines.append(f"Run it on the remote {name}: `ztf check {lesson.id} --tier full --remote {name}`.")
    if not local_gpu and not remotes:
        lines.append("No GPU found here and no remote configured; add one under `[remotes]` in the config.")
    return "\n\n".join(lines)


def lesson_markdown(lesson: Lesson) -> str:
    """The sections of the lesson the view shows, in order."""
    parts = [f"# {lesson.id} {lesson.title}"]
    for name in SHOWN_SECTIONS:
        text = lesson.sections.get(name, "").strip()
        if text:
            parts.append(f"## {name}\n\n{text}")
    return "\n\n".join(parts)


class LessonView(VerticalScroll):
    """Scrollable lesson text with the file list on top."""

    def compose(self) -> ComposeResult:
        yield Static(id="lesson-files")
        yield Static(id="lesson-gpu")
        yield Markdown(id="lesson-text")

    def show(self, workspace: Workspace, lesson: Lesson, remotes: list[str], local_gpu: str | None) -> None:
        """Display a lesson from its top."""
        from rich.markdown import Markdown as RichMarkdown

        self.query_one("#lesson-files", Static).update(RichMarkdown(files_markdown(workspace, lesson)))
        gpu = gpu_markdown(lesson, remotes, local_gpu)
        gpu_widget = self.query_one("#lesson-gpu", Static)
        gpu_widget.update(RichMarkdown(gpu) if gpu else "")
        gpu_widget.display = bool(gpu)
        self.query_one("#lesson-text", Markdown).update(lesson_markdown(lesson))
        self.scroll_home(animate=False)
