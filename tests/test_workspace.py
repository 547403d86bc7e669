"""Scaffolding and finding workspaces, and the user config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ztf_tutor import __version__
from ztf_tutor.config import load_settings
from ztf_tutor.errors import ConfigError, WorkspaceError
from ztf_tutor.workspace import find_workspace, init_workspace, template_files


def test_init_copies_template_and_records_version(tmp_path):
    workspace, report = init_workspace(tmp_path / "ws")
    assert sorted(report.created) == template_files()
    for relative in ("README.md", ".gitignore", "phase1/micrograd.py"):
        assert (workspace.root / relative).is_file()
    manifest = json.loads(workspace.manifest_path.read_text())
    assert manifest["curriculum_version"] == __version__
    assert workspace.is_untouched("phase1/micrograd.py")


def test_stub_has_docstrings_and_not_implemented(tmp_path):
    workspace, _ = init_workspace(tmp_path / "ws")
    source = (workspace.root / "phase1/micrograd.py").read_text()
    assert '"""Return a new Value for self + other.' in source
    assert 'raise NotImplementedError("Value.__add__ (self + other) is not implemented yet")' in source


def test_init_again_keeps_learner_changes(tmp_path):
    workspace, _ = init_workspace(tmp_path / "ws")
    learner_file = workspace.root / "phase1/micrograd.py"
    learner_file.write_text("# my own work\n")
    (workspace.root / "README.md").unlink()
    _, report = init_workspace(workspace.root)
    assert learner_file.read_text() == "# my own work\n"
    assert report.kept == ["phase1/micrograd.py"]
    assert report.created == ["README.md"]


def test_init_updates_untouched_stub_when_template_changes(tmp_path):
    template = tmp_path / "template"
    (template / "phase1").mkdir(parents=True)
    stub = template / "phase1" / "lesson.py"
    stub.write_text("version 1\n")
    workspace, _ = init_workspace(tmp_path / "ws", template=template)
    stub.write_text("version 2\n")
    (template / "phase1" / "new_lesson.py").write_text("new\n")
    _, report = init_workspace(workspace.root, template=template)
    assert (workspace.root / "phase1/lesson.py").read_text() == "version 2\n"
    assert report.updated == ["phase1/lesson.py"]
    assert report.created == ["phase1/new_lesson.py"]


def test_init_rebuilds_corrupt_manifest_keeping_files(tmp_path):
    workspace, _ = init_workspace(tmp_path / "ws")
    (workspace.root / "phase1/micrograd.py").write_text("# mine\n")
    workspace.manifest_path.write_text("{not json")
    with pytest.raises(WorkspaceError) as raised:
        workspace.manifest()
    assert str(workspace.manifest_path) in raised.value.message
    init_workspace(workspace.root)
    assert (workspace.root / "phase1/micrograd.py").read_text() == "# mine\n"
    assert "files" in workspace.manifest()


def test_find_order_option_env_cwd_last(tmp_path, monkeypatch):
    first, _ = init_workspace(tmp_path / "first")
    second, _ = init_workspace(tmp_path / "second")  # remembered as the last one used
    nested = first.root / "phase1"
    assert find_workspace(str(first.root)).root == first.root
    monkeypatch.setenv("ZTF_WORKSPACE", str(first.root))
    assert find_workspace(None, cwd=tmp_path).root == first.root
    monkeypatch.delenv("ZTF_WORKSPACE")
    assert find_workspace(None, cwd=nested).root == first.root
    assert find_workspace(None, cwd=tmp_path).root == second.root


def test_find_without_workspace_says_how_to_create(tmp_path):
    with pytest.raises(WorkspaceError) as raised:
        find_workspace(None, cwd=tmp_path)
    assert "ztf init" in raised.value.hint


def test_explicit_non_workspace_rejected(tmp_path):
    with pytest.raises(WorkspaceError) as raised:
        find_workspace(str(tmp_path))
    assert "-w/--workspace" in raised.value.message


def write_config(text: str) -> Path:
    path = Path(load_settings().path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_config_defaults_without_file():
    settings = load_settings()
    assert settings.check.memory_limit_mb > 0
    assert settings.learning.solution_min_minutes == 30


def test_config_values_read():
    write_config("[check]\ntimeout_fast = 12\n[learning]\nsolution_min_minutes = 5\n")
    settings = load_settings()
    assert settings.check.timeout_fast == 12
    assert settings.learning.solution_min_minutes == 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[check]\ntimeout_fsat = 3\n", 'unknown key "check.timeout_fsat". Did you mean "check.timeout_fast"?'),
        ("[check]\nmemory_limit_mb = 'lots'\n", "check.memory_limit_mb = 'lots' is invalid; expected int"),
        ("[check]\ntimeout_fast = -1\n", "use a positive number"),
        ("[check\n", "invalid TOML"),
        ("colour = 'blue'\n", 'unknown key "colour"'),
    ],
    ids=["typo", "wrong-type", "negative", "syntax", "unknown-top-level"],
)
def test_bad_config_names_file_key_and_fix(text, expected):
    path = write_config(text)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert str(path) in raised.value.message
    assert expected in raised.value.message
