"""The offer to create a workspace when `ztf start` finds none."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class CreateWorkspaceDialog(ModalScreen[Path | None]):
    """Asks where to create the workspace; returns the folder, or None to quit."""

    BINDINGS = [("escape", "cancel", "Quit")]

    def __init__(self, suggested: Path, reason: str) -> None:
        super().__init__()
        self.suggested = suggested
        self.reason = reason

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Create a workspace?", classes="dialog-title")
            yield Static(self.reason)
            yield Static("ztf copies a stub for every lesson into this folder, like `ztf init DIR`:")
            yield Input(str(self.suggested), id="workspace-path")
            with Horizontal(classes="buttons"):
                yield Button("Create", id="create", variant="success")
                yield Button("Quit", id="quit")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Create the workspace on Enter."""
        self._create()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Create or quit, by button."""
        if event.button.id == "create":
            self._create()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        """Leave without creating anything."""
        self.dismiss(None)

    def _create(self) -> None:
        text = self.query_one("#workspace-path", Input).value.strip()
        if text:
            self.dismiss(Path(text).expanduser())
