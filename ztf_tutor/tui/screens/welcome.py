"""The first-start screen: what ztf does and how a lesson works."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Markdown

from ...config import LearningSettings
from ...workspace import Workspace


def welcome_text(workspace: Workspace, learning: LearningSettings) -> str:
    """Compose the welcome page, naming this learner's workspace and journal folders and the unlock rule."""
    attempts = learning.solution_min_failed_attempts
    unlock = f"{attempts} failing check{'s' if attempts != 1 else ''} and {learning.solution_min_minutes:g} minutes of work"
    return f"""\
# Welcome to Zero-to-Frontier

You build deep learning from scratch, from an autograd engine to GPT, LLaMA, diffusion and Mamba,
in 14 phases. You write every line; ztf checks each piece against an oracle such as PyTorch.

## How a lesson works

1. **Core Concepts**: the ideas and the maths you need, with small examples.
2. **Build-Along**: you write the code in your workspace file, step by step.
3. **Checkpoint**: every time you save, ztf runs the lesson's check and shows each criterion with its measured value.
4. **Guided Exercise**: a short extension that deepens the idea.
5. **Reflect**: after a pass, three questions; your answers go to your journal.

## Pace

The curriculum suggests about 40 weeks at 10–15 hours a week: two to three weeks for most phases,
six for the capstones. Take longer if you need to; move on when every checkpoint of a phase passes
and you can explain why. Stuck? Press `h` for the next hint. The reference solution unlocks after a
genuine attempt: {unlock} on the lesson.

## Where things live

- Workspace: `{workspace.root}`
- Journal and progress: `{workspace.tutor_dir}`
"""


class WelcomeScreen(Screen[None]):
    """Shown once per workspace; Enter or the button continues to the lessons."""

    BINDINGS = [("enter", "begin", "Begin"), ("escape", "begin", "Begin")]

    def __init__(self, workspace: Workspace, learning: LearningSettings) -> None:
        super().__init__()
        self.workspace = workspace
        self.learning = learning

    def compose(self) -> ComposeResult:
        with Vertical(id="welcome"):
            yield Markdown(welcome_text(self.workspace, self.learning))
            yield Button("Begin", id="begin", variant="primary")
        yield Footer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Continue to the lessons."""
        self.action_begin()

    def action_begin(self) -> None:
        """Close the welcome screen."""
        self.dismiss(None)
