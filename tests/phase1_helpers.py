"""Helpers for the phase 1 lesson tests: partially finished learner files and verdict lookups."""

from __future__ import annotations

from pathlib import Path

from ztf_tutor.curriculum import curriculum
from ztf_tutor.runner import run_check
from ztf_tutor.verdict import CheckResult


def reference_source(lesson_id: str, relative: str) -> str:
    return (curriculum().lesson(lesson_id).reference_dir / relative).read_text(encoding="utf-8")


def unfinished(source: str, *names: str) -> str:
    """The reference with the named functions redefined as stubs, as a learner part-way through."""
    overrides = []
    for name in names:
        owner, _, method = name.rpartition(".")
        stub = f"    raise NotImplementedError({name + ' is not implemented yet'!r})\n"
        if owner:
            overrides.append(f"\n\ndef _unfinished_{method}(self, *args, **kwargs):\n{stub}\n{owner}.{method} = _unfinished_{method}\n")
        else:
            overrides.append(f"\n\ndef {name}(*args, **kwargs):\n{stub}")
    return source + "".join(overrides)


def check(workspace_root: Path, lesson_id: str, tier: str = "fast") -> CheckResult:
    return run_check(workspace_root, curriculum().lesson(lesson_id), tier, timeout_s=120)


def statuses(result: CheckResult) -> dict[str, str]:
    return {criterion.name: criterion.status for criterion in result.criteria}


def messages(result: CheckResult) -> dict[str, str]:
    return {criterion.name: criterion.message or "" for criterion in result.criteria}
