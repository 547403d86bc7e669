"""What the learner's code printed during the last check."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea


class OutputDialog(ModalScreen[None]):
    """Captured output, read-only and scrollable."""

    BINDINGS = [("escape", "dismiss", "Close")]

    def __init__(self, lesson_id: str, output: str) -> None:
        super().__init__()
        self.lesson_id = lesson_id
        self.output = output

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Static(f"Output of your code during the last {self.lesson_id} check", classes="dialog-title")
            yield TextArea(self.output or "(nothing printed)", read_only=True, id="output-text")
            yield Button("Close", id="close", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Close the dialog."""
        self.dismiss(None)
