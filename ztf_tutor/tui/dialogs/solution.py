"""The reference solution side by side with the learner's code."""

from __future__ import annotations

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ...commands.solution import SolutionFile


class SolutionDialog(ModalScreen[None]):
    """Your file on the left, the reference on the right, one pair per lesson file."""

    BINDINGS = [("escape", "dismiss", "Close")]

    def __init__(self, lesson_id: str, files: list[SolutionFile]) -> None:
        super().__init__()
        self.lesson_id = lesson_id
        self.files = files

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Static(f"Reference solution for {self.lesson_id}", classes="dialog-title")
            for item in self.files:
                yield Static(item.relative, classes="dim")
                with Horizontal(classes="side-by-side"):
                    with VerticalScroll(classes="code-pane"):
                        yield Static("your code", classes="pane-title")
                        yield Static(Syntax(item.learner, "python", line_numbers=True))
                    with VerticalScroll(classes="code-pane"):
                        yield Static("reference", classes="pane-title")
                        yield Static(Syntax(item.reference, "python", line_numbers=True))
            yield Button("Close", id="close", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Close the dialog."""
        self.dismiss(None)
