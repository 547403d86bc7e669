"""The next step of the hint ladder."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class HintDialog(ModalScreen[None]):
    """Shows one hint step; any of Escape, Enter or the button closes it."""

    BINDINGS = [("escape", "dismiss", "Close"), ("enter", "dismiss", "Close")]

    def __init__(self, lesson_id: str, step: int, total: int, text: str) -> None:
        super().__init__()
        self.title_text = f"Hint {step}/{total} for {lesson_id}"
        self.text = text
        self.last = step == total

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title")
            # Plain text: hints name dunder methods such as __add__, which Markdown would turn into bold.
            yield Static(Text(self.text), classes="hint-text")
            if self.last:
                yield Static("That was the last hint. The solution unlocks after a genuine attempt.", classes="dim")
            yield Button("Close", id="close", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Close the dialog."""
        self.dismiss(None)
