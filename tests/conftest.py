"""Shared fixtures: every test gets its own config, state and data folders and a fresh workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

from ztf_tutor.curriculum import curriculum
from ztf_tutor.workspace import Workspace, init_workspace


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every ztf folder at a temporary one, so no test reads or writes the learner's own."""
    home = tmp_path_factory.mktemp("home")
    for variable, name in (("ZTF_CONFIG_DIR", "config"), ("ZTF_STATE_DIR", "state"), ("ZTF_DATA_DIR", "data")):
        monkeypatch.setenv(variable, str(home / name))
    monkeypatch.delenv("ZTF_WORKSPACE", raising=False)
    return home


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """A freshly scaffolded learner workspace."""
    created, _ = init_workspace(tmp_path / "ws", remember=False)
    return created


@pytest.fixture
def reference(workspace: Workspace):
    """Copy a lesson's reference solution into the workspace: reference("1.2")."""

    def copy(lesson_id: str) -> None:
        lesson = curriculum().lesson(lesson_id)
        for relative in lesson.files:
            (workspace.root / relative).write_bytes((lesson.reference_dir / relative).read_bytes())

    return copy


@pytest.fixture
def no_git_identity(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME and global git config, so no git identity exists anywhere."""
    home = tmp_path_factory.mktemp("git-home")
    empty = home / "empty-gitconfig"
    empty.write_text("")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for variable in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(variable, raising=False)
    return home
