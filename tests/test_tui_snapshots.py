"""Snapshots of the tutor's main screens at 120x40 (pytest-textual-snapshot).

The workspace sits at a fixed path, because the screens show it. Update the snapshots with
`pytest tests/test_tui_snapshots.py --snapshot-update` and look at the report before committing.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from textual.widgets import TextArea
from tui_support import SIZE, make_app, wait_until

from ztf_tutor.curriculum import curriculum
from ztf_tutor.tui.dialogs.reflection import ReflectionDialog
from ztf_tutor.tui.messages import CheckFinished
from ztf_tutor.verdict import CheckResult, CriterionResult
from ztf_tutor.watcher import Verdict
from ztf_tutor.workspace import Workspace, init_workspace

FIXED_ROOT = Path(tempfile.gettempdir()) / "ztf-snapshot-workspace"


@pytest.fixture
def fixed_workspace() -> Workspace:
    shutil.rmtree(FIXED_ROOT, ignore_errors=True)
    created, _ = init_workspace(FIXED_ROOT, remember=False)
    yield created
    shutil.rmtree(FIXED_ROOT, ignore_errors=True)


def verdict(failing: bool) -> Verdict:
    """A fixed verdict for 1.2, so the snapshot never depends on timing."""
    names = curriculum().lesson("1.2").criteria_names()
    criteria = [CriterionResult(name, "pass", measured="max |error| = 2.2e-16", threshold="≤ 1.0e-06") for name in names]
    if failing:
        criteria[3] = CriterionResult(
            names[3], "fail", measured="a.grad = 3.0", threshold="6.0",
            message="For b = a * a with a = 3, a.grad is 3.0 but should be 6.0. Each _backward must add with +=, "
                    "not assign with =. Look at Value.__mul__.",
        )
    status = "fail" if failing else "pass"
    result = CheckResult("1.2", "fast", status, 2.5, criteria=criteria, source_mtimes={"phase1/micrograd.py": 1.0})
    return Verdict(result, "save", 1.0, {"phase1/micrograd.py": "0" * 64})


def test_snapshot_welcome(fixed_workspace, snap_compare):
    assert snap_compare(make_app(fixed_workspace, welcome_seen=False), terminal_size=SIZE)


def test_snapshot_main_unchecked(fixed_workspace, snap_compare):
    assert snap_compare(make_app(fixed_workspace), terminal_size=SIZE)


def test_snapshot_main_failing(fixed_workspace, snap_compare):
    async def show_failure(pilot):
        assert await wait_until(pilot, lambda: pilot.app.lesson is not None, timeout=5)
        pilot.app.post_message(CheckFinished(verdict(failing=True)))
        await pilot.pause()

    assert snap_compare(make_app(fixed_workspace), terminal_size=SIZE, run_before=show_failure)


def test_snapshot_reflection_after_pass(fixed_workspace, snap_compare):
    async def show_pass(pilot):
        assert await wait_until(pilot, lambda: pilot.app.lesson is not None, timeout=5)
        pilot.app.post_message(CheckFinished(verdict(failing=False)))
        assert await wait_until(pilot, lambda: isinstance(pilot.app.screen, ReflectionDialog), timeout=5)
        pilot.app.screen.query_one(TextArea).cursor_blink = False

    assert snap_compare(make_app(fixed_workspace), terminal_size=SIZE, run_before=show_pass)


def test_snapshot_hint(fixed_workspace, snap_compare):
    assert snap_compare(make_app(fixed_workspace), terminal_size=SIZE, press=["h"])


def test_snapshot_help_light_theme(fixed_workspace, snap_compare):
    assert snap_compare(make_app(fixed_workspace), terminal_size=SIZE, press=["t", "question_mark"])
