"""`ztf solution LESSON`: locked until a genuine attempt, then shown and recorded."""

from __future__ import annotations

import json
import time

from helpers import run_ztf

from ztf_tutor.attempts import record_activity, record_attempt
from ztf_tutor.curriculum import curriculum
from ztf_tutor.progress import Progress
from ztf_tutor.runner import run_check


def test_solution_locked_without_attempt(workspace):
    completed = run_ztf("solution", "1.2", "-w", str(workspace.root))
    assert completed.returncode == 2
    assert "unlocks after 1 failing check run" in completed.stderr
    assert "30 minutes of work" in completed.stderr
    assert Progress(workspace).get("1.2").solution_revealed_at is None


def test_solution_shown_after_attempt(workspace, isolated_home):
    config = isolated_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[learning]\nsolution_min_minutes = 0.01\n")  # 0.6 s of work
    lesson = curriculum().lesson("1.2")
    record_activity(workspace, lesson)
    time.sleep(0.7)
    record_attempt(workspace, lesson, run_check(workspace.root, lesson), trigger="manual")

    completed = run_ztf("solution", "1.2", "--json", "-w", str(workspace.root))
    assert completed.returncode == 0, completed.stderr
    files = json.loads(completed.stdout)
    assert [item["file"] for item in files] == ["phase1/micrograd.py"]
    assert files[0]["reference"] == (lesson.reference_dir / "phase1/micrograd.py").read_text()
    assert files[0]["yours"] == (workspace.root / "phase1/micrograd.py").read_text()
    assert Progress(workspace).get("1.2").solution_revealed_at is not None
