"""Lesson loading and validation: the real curriculum is valid, broken files get precise errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import run_ztf

from ztf_tutor import locations
from ztf_tutor.curriculum import LESSON_SECTIONS, curriculum, load_curriculum
from ztf_tutor.errors import CurriculumError, UnknownLessonError


def test_curriculum_is_valid():
    loaded = load_curriculum()
    assert [phase.number for phase in loaded.phases] == list(range(1, 15))
    assert loaded.lesson("1.2").files == ("phase1/micrograd.py",)


def test_dev_lint_passes():
    result = run_ztf("dev", "lint")
    assert result.returncode == 0, result.stdout
    assert "all valid" in result.stdout


def test_every_lesson_has_sections_hints_and_reference():
    for lesson in curriculum().lessons:
        assert list(lesson.sections)[: len(LESSON_SECTIONS)] == list(LESSON_SECTIONS), lesson.id
        assert len(lesson.hints) >= 3, lesson.id
        for relative in lesson.files:
            assert (lesson.reference_dir / relative).is_file(), (lesson.id, relative)


def test_lesson_lookup_by_id_and_check_name():
    assert curriculum().lesson("1.2").id == "1.2"
    assert curriculum().lesson("p1_micrograd").id == "1.2"
    with pytest.raises(UnknownLessonError) as raised:
        curriculum().lesson("9.99")
    assert "ztf lessons" in str(raised.value)


@pytest.fixture
def content_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A writable copy of the curriculum, template and checks to break on purpose."""
    for name in ("curriculum", "workspace_template", "checks"):
        shutil.copytree(locations.content_dir() / name, tmp_path / name)
    monkeypatch.setenv("ZTF_CONTENT_DIR", str(tmp_path))
    return tmp_path


def lesson_file(content: Path) -> Path:
    return content / "curriculum" / "phase-01-foundations" / "1.2-micrograd.md"


def problems_after(content: Path, old: str, new: str) -> list[str]:
    path = lesson_file(content)
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(CurriculumError) as raised:
        load_curriculum(content / "curriculum")
    return raised.value.problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('section_id: "1.2"\n', "", 'key "section_id": is missing. Add it, for example `section_id: "1.2"`'),
        ('section_id: "1.2"', 'section_id: "one.two"', "'one.two' is not a lesson id"),
        ("phase: 1\n", "phase: 17\n", 'key "phase": 17 is out of range'),
        ("check: p1_micrograd", "check: p1_nothing", "names 'p1_nothing', but checks/p1_nothing/check.py does not exist"),
        ("  - phase1/micrograd.py", "  - ../escape.py", "'../escape.py' leaves the workspace"),
        ("    timeout: 60", "    timeout: soon", 'key "tiers.fast.timeout": must be a positive number of seconds'),
        ("## Reflect", "## Afterthoughts", 'has no "## Reflect" section'),
        ("- backward() starts from a gradient of 1 at the output", "- backward() works", "does not list the check's criteria word for word"),
        ("order: 2", "order: 2\ncolour: blue", 'key "colour": is not a lesson key'),
        ("title: ", "title: [", "front matter is not valid YAML at line"),
    ],
    ids=["missing-key", "bad-id", "phase-range", "missing-check", "path-escape", "bad-timeout",
         "missing-section", "criteria-mismatch", "unknown-key", "yaml-syntax"],
)
def test_broken_lesson_reports_file_key_and_fix(content_copy, old, new, expected):
    problems = problems_after(content_copy, old, new)
    assert any(expected in problem for problem in problems), problems
    assert all(problem.startswith("curriculum/phase-01-foundations/1.2-micrograd.md") for problem in problems)


def test_too_few_hints_rejected(content_copy):
    path = lesson_file(content_copy)
    text = path.read_text(encoding="utf-8")
    start = text.index("hints:")
    end = text.index("---", start)
    path.write_text(text[:start] + 'hints:\n  - "Only one"\n' + text[end:], encoding="utf-8")
    with pytest.raises(CurriculumError) as raised:
        load_curriculum(content_copy / "curriculum")
    assert any("has 1 steps" in problem for problem in raised.value.problems)


def test_lint_command_prints_problems_without_traceback(content_copy):
    path = lesson_file(content_copy)
    path.write_text(path.read_text(encoding="utf-8").replace("phase: 1\n", 'phase: "one"\n', 1), encoding="utf-8")
    result = run_ztf("dev", "lint", env={"ZTF_CONTENT_DIR": str(content_copy)})
    assert result.returncode == 1
    assert 'key "phase": has the invalid value \'one\'' in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_broken_curriculum_gives_clean_cli_error(content_copy, workspace):
    path = lesson_file(content_copy)
    path.write_text("no front matter here", encoding="utf-8")
    result = run_ztf("lessons", "-w", str(workspace.root), env={"ZTF_CONTENT_DIR": str(content_copy)})
    assert result.returncode == 2
    assert "has no front matter" in result.stderr
    assert "Traceback" not in result.stderr
