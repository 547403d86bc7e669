"""Lesson 1.2: every criterion the lesson names is checked, and they flip as the engine grows."""

from __future__ import annotations

import pytest
from phase1_helpers import check, messages, reference_source, statuses, unfinished

from ztf_tutor.curriculum import checkpoint_items, curriculum

FILE = "phase1/micrograd.py"
REUSED = "A node used twice accumulates its gradient (a*a, a+a, a diamond graph)"
FORWARD = "Forward values of +, -, *, /, ** and their reflected forms match Python arithmetic"
SEEDED = "backward() starts from a gradient of 1 at the output"
MLP = "An MLP built from Value matches PyTorch's forward pass and gradients within 1e-6"


def test_every_listed_criterion_is_checked():
    lesson = curriculum().lesson("1.2")

    assert checkpoint_items(lesson.sections["Checkpoint"]) == lesson.criteria_names()
    assert len(lesson.criteria_names()) == 7


@pytest.mark.slow
def test_add_mul_and_backward_pass_their_criteria_first(workspace):
    source = reference_source("1.2", FILE)
    later = ["Value.__pow__", "Value.tanh", "Value.exp", "Value.relu", "Value.__neg__", "MLP.__init__"]
    (workspace.root / FILE).write_text(unfinished(source, *later), encoding="utf-8")

    result = check(workspace.root, "1.2")
    got = statuses(result)

    assert got[REUSED] == got[SEEDED] == "pass"
    assert got[FORWARD] == got[MLP] == "fail"
    assert "Value.__neg__ is not implemented yet" in messages(result)[FORWARD]
