"""The lesson 3.4 generator screen, driven by Pilot, with the learner's code in a real child process."""

from __future__ import annotations

import importlib.util
import os

import pytest
import torch
from textual.widgets import Button, Input, Static
from tui_support import SIZE, make_app, run_async, wait_until

from ztf_tutor.curriculum import curriculum
from ztf_tutor.tui.screens.generate import GenerateScreen
from ztf_tutor.tui.screens.main import MainScreen
from ztf_tutor.workspace import Workspace

pytestmark = pytest.mark.slow
VOCABULARY = "abcdefgh \n"


def write_model(workspace: Workspace) -> None:
    """Save a small, untrained GPT built from the workspace's gpt.py in lesson 3.3's checkpoint format."""
    spec = importlib.util.spec_from_file_location("workspace_gpt", workspace.root / "phase3" / "gpt.py")
    assert spec is not None and spec.loader is not None
    gpt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpt)
    chars = sorted(set(VOCABULARY))
    torch.manual_seed(0)
    config = gpt.GPTConfig(vocab_size=len(chars), block_size=16, n_layer=1, n_head=2, n_embd=16)
    path = workspace.root / "runs" / "3.3" / "model.pt"
    path.parent.mkdir(parents=True)
    torch.save({"model": gpt.GPT(config).state_dict(), "config": vars(config), "chars": chars}, path)


@pytest.fixture
def model_workspace(workspace, reference) -> Workspace:
    reference("3.1")
    reference("3.4")
    write_model(workspace)
    return workspace


async def open_generator(app, pilot) -> GenerateScreen:
    await pilot.pause()
    app.show_lesson(curriculum().lesson("3.4"))
    await pilot.press("p")
    await pilot.pause()
    assert isinstance(app.screen, GenerateScreen)
    return app.screen


def status(screen: GenerateScreen) -> Static:
    return screen.query_one("#gen-status", Static)


def group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


@run_async
async def test_tokens_stream_into_log(model_workspace):
    app = make_app(model_workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_generator(app, pilot)
        screen.query_one("#tokens", Input).value = "40"
        screen.query_one("#prompt", Input).value = "abc"
        await pilot.press("enter")

        assert await wait_until(pilot, lambda: status(screen).has_class("-passed"))
        text = screen.generated
        assert text.startswith("abc")
        assert screen.tokens == 40
        assert len(text) == 3 + 40
        assert set(text) <= set(VOCABULARY)
        assert "40 tokens in" in str(status(screen).render())


@run_async
async def test_invalid_settings_start_nothing(model_workspace):
    app = make_app(model_workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_generator(app, pilot)
        cases = (("temperature", "hot", "Temperature must be a number from 0 to 5"),
                 ("temperature", "9", "Temperature must be"),
                 ("top-p", "0", "Top-p must be"),
                 ("tokens", "2.5", "Tokens must be a whole number"))
        for field, value, message in cases:
            for name, default in (("temperature", "0.8"), ("top-p", "0.9"), ("tokens", "5")):
                screen.query_one(f"#{name}", Input).value = default
            screen.query_one(f"#{field}", Input).value = value
            screen.start_generation()
            await pilot.pause()
            assert message in str(status(screen).render()), (field, value)
            assert screen.child_pid is None
            assert not screen.running


@run_async
async def test_unknown_prompt_character_is_explained(model_workspace):
    app = make_app(model_workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_generator(app, pilot)
        screen.query_one("#prompt", Input).value = "xyz"
        await pilot.press("enter")

        assert await wait_until(pilot, lambda: status(screen).has_class("-failed"))
        assert "does not know the characters 'xyz'" in str(status(screen).render())


@run_async
async def test_learner_error_keeps_app_responsive(workspace, reference):
    reference("3.1")  # generate.py stays the stub, whose functions raise NotImplementedError
    write_model(workspace)
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_generator(app, pilot)
        screen.query_one("#prompt", Input).value = "ab"
        await pilot.press("enter")

        assert await wait_until(pilot, lambda: status(screen).has_class("-failed"))
        shown = str(status(screen).render())
        assert "Generation failed: phase3/generate.py:" in shown
        assert "not implemented" in shown
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


@run_async
async def test_stop_and_close_kill_child(model_workspace):
    app = make_app(model_workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_generator(app, pilot)
        screen.query_one("#tokens", Input).value = "2000"
        screen.query_one("#prompt", Input).value = "a"
        await pilot.press("enter")
        assert await wait_until(pilot, lambda: screen.tokens > 0)
        pid = screen.child_pid
        assert pid is not None

        await pilot.press("escape")  # the first Escape stops the sample
        assert await wait_until(pilot, lambda: not group_alive(pid), timeout=5)
        assert isinstance(app.screen, GenerateScreen)
        assert not screen.running

        await pilot.press("enter")
        assert await wait_until(pilot, lambda: screen.tokens > 0 and screen.child_pid not in (None, pid))
        second = screen.child_pid
        app.pop_screen()  # closing the screen while it generates
        assert await wait_until(pilot, lambda: not group_alive(second), timeout=5)


@run_async
async def test_missing_model_offers_tiny_one(workspace, reference):
    reference("3.1")
    reference("3.4")
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_generator(app, pilot)
        shown = str(screen.query_one("#gen-model", Static).render())
        assert "`ztf check 3.3 --tier full`" in shown
        assert screen.query_one("#generate-button", Button).disabled

        await pilot.click("#train-button")
        assert await wait_until(pilot, lambda: status(screen).has_class("-passed"), timeout=120)
        assert (workspace.root / "runs" / "tiny" / "model.pt").is_file()
        assert "Using the tiny model" in str(screen.query_one("#gen-model", Static).render())

        screen.query_one("#tokens", Input).value = "20"
        screen.query_one("#prompt", Input).value = "The "
        await pilot.press("enter")
        assert await wait_until(pilot, lambda: "20 tokens in" in str(status(screen).render()))


@run_async
async def test_palette_opens_generator(model_workspace):
    app = make_app(model_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.check_action("generate", ()) is False  # the key belongs to lesson 3.4
        command = next(item for item in app.get_system_commands(app.screen) if item.title == "Generate text")
        command.callback()
        await pilot.pause()
        assert isinstance(app.screen, GenerateScreen)
        assert "runs/3.3/model.pt" in str(app.screen.query_one("#gen-model", Static).render())
