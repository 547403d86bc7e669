"""The help screen: every key and what it does."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Markdown

HELP = """\
# Keys

- `r` run the lesson's check now
- `h` show the next hint
- `s` show the reference solution (after a genuine attempt)
- `e` open the lesson's file in `$VISUAL` or `$EDITOR`
- `o` show what your code printed during the last check
- `v` open the image the last check wrote, such as an attention heatmap, in your viewer
- `f` reflect on the lesson
- `j` open the journal
- `t` switch between the dark and the light theme
- `?` this help
- `q` quit (a running check is stopped)
- `ctrl+p` command palette: every action, and a jump to any lesson

Saving a lesson file reruns its checkpoint; you never need to press a key for that.
The mouse works too: click a lesson in the tree, a button, or scroll the lesson text.
"""


class HelpScreen(ModalScreen[None]):
    """Lists the keys."""

    BINDINGS = [("escape", "dismiss", "Close"), ("question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Markdown(HELP)
            yield Button("Close", id="close", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Close the help."""
        self.dismiss(None)
