"""Every lesson's stub, reference and known-bug variants get the same verdict warm and cold.

Lessons are discovered when the tests are collected, so a lesson added later is covered
without editing this file.

Some buggy code gives results that depend on object addresses. Iterating a set of objects
hashed by id() (micrograd's `_prev`) visits them in an order set by the heap layout. A bug such
as `grad = ...` in place of `grad += ...` then keeps whichever contribution came last.
A forked child's heap differs from a fresh interpreter's, so such a verdict may differ. Other
verdicts vary from run to run on either path, such as a measured value that includes an elapsed
time (lesson 3.3 reports "val loss 2.1 in 1.3 s"). The test tells these cases apart by rerunning
cold with a slightly different heap (extra environment variables). If the cold verdict moves
too, the test compares only what neither cause can change (see assert_same_judgement).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from ztf_tutor import worker
from ztf_tutor.curriculum import Lesson, curriculum
from ztf_tutor.runner import CheckRun
from ztf_tutor.verdict import CheckResult
from ztf_tutor.verify import apply_variant, copy_earlier_references, copy_reference, load_variants
from ztf_tutor.workspace import init_workspace

READY_TIMEOUT_S = 120
CPU_LESSONS = [lesson for lesson in curriculum().lessons if not lesson.tiers["fast"].gpu]


def comparable(verdict: dict[str, Any]) -> dict[str, Any]:
    """The verdict's JSON without timings, which differ from run to run."""
    verdict = dict(verdict)
    for key in ("duration_s", "started_at"):
        verdict.pop(key)
    verdict["criteria"] = [{k: v for k, v in c.items() if k != "duration_s"} for c in verdict["criteria"]]
    return verdict


def statuses(verdict: dict[str, Any]) -> list[tuple[str, str]]:
    return [("overall", verdict["status"])] + [(c["name"], c["status"]) for c in verdict["criteria"]]


def assert_same_judgement(warm: dict[str, Any], cold: dict[str, Any], catches: list[str] | None, label: str) -> None:
    """Compare what `ztf dev verify` relies on, for a verdict that varies between cold runs.

    A stub or reference keeps every criterion's status; a variant keeps the overall status and
    fails the criteria it declares in `catches` on both paths. Other criteria of a variant may
    pass in one layout and fail in another (a wrong backward order can still train a small MLP).
    """
    assert warm["status"] == cold["status"], f"{label}: overall status differs"
    if catches is None:
        assert statuses(warm) == statuses(cold), f"{label}: criterion statuses differ"
        return
    for verdict, path in ((warm, "warm"), (cold, "cold")):
        failing = {c["name"] for c in verdict["criteria"] if c["status"] in ("fail", "error")}
        assert set(catches) <= failing, f"{label}: {path} run does not fail {sorted(set(catches) - failing)}"


def run_verdict(workspace: Path, lesson: Lesson, warm: bool) -> dict[str, Any]:
    run = CheckRun(workspace, lesson, warm=warm).start()
    result: CheckResult = run.wait()
    assert run.via == ("warm" if warm else "cold")
    return comparable(result.to_json(include_output=True))


def cold_verdict_varies(workspace: Path, lesson: Lesson, cold: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> bool:
    """True when a cold run with a few more small objects on the heap gets another verdict."""
    for count in (1, 2, 3):
        with monkeypatch.context() as patch:
            for index in range(count):
                patch.setenv(f"ZTF_HEAP_PAD_{index}", "x")
            if run_verdict(workspace, lesson, warm=False) != cold:
                return True
    return False


@pytest.mark.slow
@pytest.mark.parametrize("lesson", CPU_LESSONS, ids=lambda lesson: lesson.id)
def test_warm_and_cold_verdicts_identical(lesson: Lesson, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    workspace, _ = init_workspace(tmp_path / "ws", remember=False)
    copy_earlier_references(lesson, workspace.root)
    started = worker.prewarm(workspace.root)
    assert started.ready.wait(READY_TIMEOUT_S), started.log_path.read_text()

    targets: list[tuple[str, Any]] = [("stub", None), ("reference", None)]
    targets += [(variant.name, variant) for variant in load_variants(lesson)]
    try:
        for name, variant in targets:
            if name != "stub":
                copy_reference(lesson, workspace.root)
            if variant is not None:
                assert apply_variant(lesson, variant, workspace.root) is None
            warm = run_verdict(workspace.root, lesson, warm=True)
            cold = run_verdict(workspace.root, lesson, warm=False)
            if warm == cold:
                continue
            assert cold_verdict_varies(workspace.root, lesson, cold, monkeypatch), (
                f"lesson {lesson.id}, {name}: warm and cold verdicts differ, and the cold verdict is stable"
            )
            warnings.warn(f"lesson {lesson.id}, {name}: the cold verdict varies between runs, "
                          "so only its statuses and declared catches were compared", stacklevel=1)
            assert_same_judgement(warm, cold, variant.catches if variant else None, f"lesson {lesson.id}, {name}")
    finally:
        worker.stop_workers()
