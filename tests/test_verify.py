"""Every lesson's checkpoint is proven: the reference passes, the stub fails, every known bug fails."""

from __future__ import annotations

import os

import pytest

from ztf_tutor.config import Settings
from ztf_tutor.curriculum import curriculum
from ztf_tutor.verify import load_variants, verify_lesson

LESSONS = [lesson.id for lesson in curriculum().lessons]


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_lesson_checkpoint_is_proven(lesson_id):
    report = verify_lesson(curriculum().lesson(lesson_id), Settings(), jobs=os.cpu_count() or 1)
    assert report.ok, "\n".join(report.problems)
    assert report.reference == "pass"
    assert report.stub != "pass"
    assert all(variant.verdict != "pass" for variant in report.variants)


@pytest.mark.parametrize("lesson_id", LESSONS)
def test_lesson_has_eight_known_bugs(lesson_id):
    variants = load_variants(curriculum().lesson(lesson_id))
    assert len(variants) >= 8
    assert all(variant.catches and variant.message_contains for variant in variants)
    assert len({variant.name for variant in variants}) == len(variants)
