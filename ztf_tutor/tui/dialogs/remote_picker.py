"""The choice of remote when several are configured for a full-tier run."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from ...remote.config import Remote


class RemotePickerDialog(ModalScreen[str | None]):
    """Lists the remotes; returns the chosen name, or None on Escape."""

    BINDINGS = [("escape", "cancel", "Cancel")]

    def __init__(self, lesson_id: str, remotes: list[Remote]) -> None:
        super().__init__()
        self.lesson_id = lesson_id
        self.remotes = remotes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Run the full tier of {self.lesson_id} on which remote?", classes="dialog-title")
            options = [Option(f"{remote.name}  ({remote.label})", id=remote.name) for remote in self.remotes]
            yield OptionList(*options, id="remotes")
            yield Static("Enter runs it there; Escape cancels.", classes="dim")
            yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        """Focus the list so the arrow keys and Enter work at once."""
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Return the remote picked with Enter or a click."""
        self.dismiss(event.option.id)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Close without running anything."""
        self.action_cancel()

    def action_cancel(self) -> None:
        """Close without running anything."""
        self.dismiss(None)
