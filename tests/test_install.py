"""A built wheel carries the curriculum, the template and the checks, and works from any folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest
from helpers import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(folder), str(REPO)],
        check=True, timeout=600,
    )
    return next(folder.glob("ztf_tutor-*.whl"))


def test_wheel_contains_content(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "ztf_tutor/_content/curriculum/phase-01-foundations/1.2-micrograd.md" in names
    assert "ztf_tutor/_content/workspace_template/phase1/micrograd.py" in names
    assert "ztf_tutor/_content/checks/p1_micrograd/check.py" in names
    assert "ztf_tutor/_content/checks/p1_micrograd/reference/phase1/micrograd.py" in names


def test_installed_wheel_runs_outside_repository(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
        check=True, timeout=600,
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PYTHONPATH"] = str(target)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def ztf(*args):
        return subprocess.run([sys.executable, "-m", "ztf_tutor", *args], cwd=elsewhere, env=env,
                              capture_output=True, text=True, timeout=300)

    assert ztf("init", str(tmp_path / "ws")).returncode == 0
    lessons = json.loads(ztf("lessons", "--json", "-w", str(tmp_path / "ws")).stdout)
    assert "1.2" in [lesson["id"] for lesson in lessons]
    checked = ztf("check", "1.2", "-w", str(tmp_path / "ws"), "--json")
    assert checked.returncode == 1, checked.stderr
    located = subprocess.run([sys.executable, "-c", "import ztf_tutor.locations as l; print(l.content_dir())"],
                             cwd=elsewhere, env=env, capture_output=True, text=True)
    assert located.stdout.strip() == str(target / "ztf_tutor" / "_content")
