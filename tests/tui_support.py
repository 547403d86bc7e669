"""Shared helpers of the Textual tests: building the app on a workspace and waiting on it."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

from textual.pilot import Pilot

from ztf_tutor.config import load_settings
from ztf_tutor.curriculum import curriculum
from ztf_tutor.tui.app import ZtfApp
from ztf_tutor.tui.state import TutorState, save_state
from ztf_tutor.workspace import Workspace

SIZE = (120, 40)


def make_app(workspace: Workspace | None, *, welcome_seen: bool = True, **options) -> ZtfApp:
    """The tutor on a workspace, past the welcome screen unless asked otherwise."""
    if workspace is not None and welcome_seen:
        save_state(workspace, TutorState(last_lesson="1.2", welcome_seen=True))
    return ZtfApp(curriculum(), load_settings(), workspace, **options)


async def wait_until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    """Let the app run until `condition()` holds or the timeout passes."""
    steps = int(timeout / 0.1)
    for _ in range(steps):
        if condition():
            return True
        await pilot.pause(0.1)
    return condition()


def run_async(test: Callable) -> Callable:
    """Run an async test function with asyncio; the project has no pytest asyncio plugin."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return wrapper
