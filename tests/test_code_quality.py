"""The project's own code passes its linter and type checker."""

from __future__ import annotations

import subprocess
import sys

from helpers import REPO


def test_ruff_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "ztf_tutor", "tests", "checks", "bench"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_clean():
    result = subprocess.run([sys.executable, "-m", "mypy", "ztf_tutor"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
