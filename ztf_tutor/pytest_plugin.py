"""Run checkpoints under plain `pytest`, for learners who reach for it by habit.

The workspace's `test_checkpoints.py` parametrizes one test over every criterion of every lesson,
so `pytest -k 1.2` runs lesson 1.2's checkpoint in-process. The tutor itself never goes through
pytest: its runner calls the same criterion functions directly, which is far faster on each save.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType

import pytest

from .checking import CheckContext, criteria_of, criterion_name, load_check_module, run_criterion
from .config import load_settings
from .curriculum import curriculum
from .verdict import ERROR, FAIL, SKIP


@functools.cache
def _check_module(check_file: Path) -> ModuleType:
    return load_check_module(check_file)


def criterion_params(tier: str = "fast") -> list:
    """Build one pytest.param per criterion, with ids like "1.2-3" (lesson, then position)."""
    params = []
    for lesson in curriculum().lessons:
        if tier not in lesson.tiers:
            continue
        for index, name in enumerate(lesson.criteria_names(), start=1):
            params.append(pytest.param(lesson.id, name, id=f"{lesson.id}-{index}"))
    return params


def run_criterion_under_pytest(lesson_id: str, name: str, workspace: Path, scratch: Path, tier: str = "fast") -> None:
    """Run one criterion in this process and turn its outcome into a pytest outcome."""
    lesson = curriculum().lesson(lesson_id)
    module = _check_module(lesson.check_file)
    functions = [function for function in criteria_of(module, tier) if criterion_name(function) == name]
    if not functions:
        pytest.skip(f"{name!r} does not run in the {tier} tier")
    context = CheckContext(workspace, tier, scratch, load_settings().data_dir())
    result = run_criterion(functions[0], context)
    detail = f"{lesson.id} {name}\n{result.message}"
    if result.measured:
        detail += f"\nmeasured: {result.measured}" + (f" (threshold {result.threshold})" if result.threshold else "")
    if result.status == SKIP:
        pytest.skip(detail)
    if result.status in (FAIL, ERROR):
        pytest.fail(detail, pytrace=False)
