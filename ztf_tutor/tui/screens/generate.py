"""The interactive generator of lesson 3.4: a prompt, temperature and top-p, and tokens streaming in."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.validation import Number
from textual.widgets import Button, Footer, Header, Input, Label, Static

from ...workspace import Workspace
from ..generation import MODEL_RELATIVE, TINY_RELATIVE, child_events, model_path

# (input id, label, default, validator, message when invalid)
FIELDS = (
    ("temperature", "temperature", "0.8", Number(minimum=0, maximum=5),
     "Temperature must be a number from 0 to 5; 0 always takes the most likely token."),
    ("top-p", "top-p", "0.9", Number(minimum=0.01, maximum=1),
     "Top-p must be a number from 0.01 to 1; 1 keeps every token."),
    ("tokens", "tokens", "300", Number(minimum=1, maximum=2000),
     "Tokens must be a whole number from 1 to 2000."),
)


def missing_model_text(workspace: Workspace) -> str:
    """Explain how to get a model when lesson 3.3's checkpoint is missing."""
    return (f"No trained model yet: {MODEL_RELATIVE} is written by lesson 3.3's full tier. Run "
            f"`ztf check 3.3 --tier full` on a machine with a CUDA GPU, or add `--remote NAME` to run it on a "
            f"remote (press g on lesson 3.3). Meanwhile, Train a tiny model trains your GPT for a few seconds "
            f"on this lesson's text and saves it in {TINY_RELATIVE}: enough to try the controls, not for good text.")


class GenerateScreen(Screen[None]):
    """Type a prompt, pick temperature and top-p, and watch your `stream` generate; Escape stops, then closes."""

    BINDINGS = [("escape", "stop_or_close", "Stop / Back")]

    def __init__(self, workspace: Workspace, lesson_text: Path) -> None:
        super().__init__()
        self.workspace = workspace
        self.lesson_text = lesson_text
        self.child_pid: int | None = None
        self.running = False
        self.tokens = 0
        self.generated = ""

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="generate"):
            yield Static(id="gen-model")
            with Horizontal(id="gen-controls"):
                yield Input(placeholder="Prompt, e.g. ROMEO:", id="prompt")
                for field_id, label, default, validator, _ in FIELDS:
                    yield Label(label, classes="gen-label")
                    yield Input(default, id=field_id, validators=[validator], classes="gen-number")
            with Horizontal(classes="buttons"):
                yield Button("Generate", id="generate-button", variant="success")
                yield Button("Stop", id="stop-button")
                yield Button("Train a tiny model", id="train-button")
            yield Static("", id="gen-status")
            with VerticalScroll(id="gen-output"):
                yield Static(id="gen-text")
        yield Footer()

    def on_mount(self) -> None:
        """Describe the model in use and focus the prompt."""
        self.show_model()
        self.query_one("#prompt", Input).focus()

    def show_model(self) -> None:
        """Say which model the generator uses, or how to get one."""
        path = model_path(self.workspace)
        label = self.query_one("#gen-model", Static)
        if path is None:
            label.update(escape(missing_model_text(self.workspace)))
        elif path.match(TINY_RELATIVE):
            label.update(escape(f"Using the tiny model in {TINY_RELATIVE} (a few seconds of training on the lesson "
                                f"text). Lesson 3.3's full tier writes the real one to {MODEL_RELATIVE}."))
        else:
            label.update(escape(f"Using your trained model from lesson 3.3: {path}"))
        self.query_one("#generate-button", Button).disabled = path is None
        self.query_one("#train-button", Button).display = path is None or path.match(TINY_RELATIVE)
        self.query_one("#stop-button", Button).disabled = not self.running

    # Requests

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Generate on Enter in any field."""
        self.start_generation()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Generate, stop or train, by button."""
        if event.button.id == "generate-button":
            self.start_generation()
        elif event.button.id == "stop-button":
            self.stop("Stopped.")
        elif event.button.id == "train-button":
            self.start_training()

    def settings(self) -> dict[str, float] | None:
        """Read and validate temperature, top-p and token count; show what is invalid and return None."""
        values: dict[str, float] = {}
        for field_id, _, _, _, message in FIELDS:
            widget = self.query_one(f"#{field_id}", Input)
            result = widget.validate(widget.value)
            if result is not None and not result.is_valid:
                self.set_status(f"{message} Got {widget.value!r}.", "-failed")
                widget.focus()
                return None
            values[field_id] = float(widget.value)
        if not values["tokens"].is_integer():
            self.set_status(f"{FIELDS[2][4]} Got {values['tokens']:g}.", "-failed")
            return None
        return values

    def start_generation(self) -> None:
        """Validate the fields and stream a new sample, replacing one that is running."""
        path = model_path(self.workspace)
        if path is None:
            self.set_status("There is no model to generate with yet; see above.", "-failed")
            return
        values = self.settings()
        if values is None:
            return
        prompt = self.query_one("#prompt", Input).value
        spec = {"job": "generate", "workspace": str(self.workspace.root), "model": str(path), "prompt": prompt,
                "temperature": values["temperature"], "top_p": values["top-p"], "max_new_tokens": int(values["tokens"])}
        self.tokens = 0
        self.show_text(prompt)
        self.set_status("Loading the model…", "-running")
        self.run_child(spec)

    def start_training(self) -> None:
        """Train the tiny model in the child, then offer it to the generator."""
        spec = {"job": "train_tiny", "workspace": str(self.workspace.root), "text": str(self.lesson_text),
                "output": str(self.workspace.root / TINY_RELATIVE)}
        self.show_text("")
        self.set_status("Training a tiny model with your GPT…", "-running")
        self.run_child(spec)

    def stop(self, text: str) -> None:
        """Cancel the running child, which kills its process group."""
        if self.running:
            self.workers.cancel_node(self)
            self.finish(text, "-pending")

    def action_stop_or_close(self) -> None:
        """Stop a running sample; close the screen when nothing runs."""
        if self.running:
            self.stop("Stopped.")
        else:
            self.dismiss(None)

    # The child

    @work(exclusive=True, group="generation", exit_on_error=False)
    async def run_child(self, spec: dict[str, Any]) -> None:
        """Stream the child's events into the screen; cancelling this worker kills the child."""
        self.running = True
        self.query_one("#stop-button", Button).disabled = False
        async with contextlib.aclosing(child_events(spec)) as events:
            async for event in events:
                self.apply(event)

    def apply(self, event: dict[str, Any]) -> None:
        """Show one event of the child."""
        kind = event.get("event")
        if kind == "started":
            self.child_pid = event["pid"]
        elif kind == "ready":
            self.set_status("Generating…", "-running")
        elif kind == "piece":
            self.tokens += 1
            self.show_text(self.generated + event["text"])
        elif kind == "progress":
            self.set_status(f"Training a tiny model: {event['text']}", "-running")
        elif kind == "done":
            rate = event["tokens"] / event["seconds"] if event["seconds"] > 0 else 0.0
            self.finish(f"{event['tokens']} tokens in {event['seconds']:.1f} s ({rate:.0f} tokens/s).", "-passed")
        elif kind == "saved":
            self.finish(f"Saved the tiny model (final training loss {event['loss']:.2f}). Type a prompt and press "
                        f"Enter.", "-passed")
            self.show_model()
            self.query_one("#prompt", Input).focus()
        elif kind == "error":
            where = f"{event['location']}: " if event.get("location") else ""
            self.finish(f"Generation failed: {where}{event['message']}", "-failed")

    def show_text(self, text: str) -> None:
        """Show the prompt and the tokens so far, wrapped, and keep the end in view."""
        self.generated = text
        self.query_one("#gen-text", Static).update(Text(text))
        self.query_one("#gen-output", VerticalScroll).scroll_end(animate=False)

    def finish(self, text: str, state: str) -> None:
        """Leave the running state with a final status line."""
        self.running = False
        self.child_pid = None
        self.query_one("#stop-button", Button).disabled = True
        self.set_status(text, state)

    def set_status(self, text: str, state: str) -> None:
        """Show a status line coloured by state (-running, -passed, -failed, -pending)."""
        status = self.query_one("#gen-status", Static)
        status.remove_class("-running", "-passed", "-failed", "-pending")
        status.add_class(state)
        status.update(escape(text))
