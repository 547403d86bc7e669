"""The reflection prompt shown after a lesson passes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea

DEFAULT_QUESTIONS = (
    "What surprised you?",
    "What was harder than you expected?",
    "What would you do differently next time?",
)


class ReflectionDialog(ModalScreen[str | None]):
    """Asks three questions; returns the answer text, or None when skipped."""

    BINDINGS = [("escape", "skip", "Skip"), ("ctrl+s", "save", "Save")]

    def __init__(self, lesson_id: str, title: str, questions: list[str] | None = None,
                 just_passed: bool = True) -> None:
        super().__init__()
        self.lesson_id = lesson_id
        self.lesson_title = title
        self.questions = questions or list(DEFAULT_QUESTIONS)
        self.just_passed = just_passed

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="reflection"):
            heading = (f"{self.lesson_id} passed. Reflect for a minute?" if self.just_passed
                       else f"Reflect on {self.lesson_id} {self.lesson_title}")
            yield Static(heading, classes="dialog-title")
            yield Static("\n".join(f"• {question}" for question in self.questions))
            yield TextArea(id="reflection-text")
            yield Static("Ctrl+S saves to your journal; Escape skips.", classes="dim")
            with Horizontal(classes="buttons"):
                yield Button("Save", id="save", variant="success")
                yield Button("Skip", id="skip")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Save or skip, by button."""
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_skip()

    def action_save(self) -> None:
        """Return the text written; an empty text counts as a skip."""
        text = self.query_one("#reflection-text", TextArea).text.strip()
        self.dismiss(text or None)

    def action_skip(self) -> None:
        """Close without saving."""
        self.dismiss(None)
