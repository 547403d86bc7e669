"""The question asked when the learner quits while a remote job runs."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

LEAVE, CANCEL = "leave", "cancel"


class QuitRemoteDialog(ModalScreen[str | None]):
    """Returns "leave" (the job keeps running), "cancel" (the job is killed), or None to stay in the tutor."""

    BINDINGS = [("escape", "stay", "Stay")]

    def __init__(self, lesson_id: str, remote: str, starting: bool) -> None:
        super().__init__()
        self.lesson_id = lesson_id
        self.remote = remote
        self.starting = starting

    def compose(self) -> ComposeResult:
        state = "is still starting" if self.starting else "is running"
        with Vertical(classes="dialog", id="quit-remote"):
            yield Static(f"The full-tier job of {self.lesson_id} {state} on {self.remote}.", classes="dialog-title")
            yield Static(f"Leave it running and collect its verdict later with `ztf remote attach {self.remote}`, "
                         f"or cancel it now (its result is lost).")
            if self.starting:
                yield Static("The tutor closes once the files are copied and the job is started or cancelled.",
                             classes="dim")
            with Horizontal(classes="buttons"):
                yield Button("Leave it running", id=LEAVE, variant="primary")
                yield Button("Cancel the job", id=CANCEL, variant="error")
                yield Button("Stay", id="stay")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Return the choice."""
        self.dismiss(event.button.id if event.button.id in (LEAVE, CANCEL) else None)

    def action_stay(self) -> None:
        """Go back to the tutor."""
        self.dismiss(None)
