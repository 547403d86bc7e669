"""Every lesson's checkpoint as pytest tests: `pytest -k 1.2` runs lesson 1.2's criteria.

`ztf check 1.2` runs the same criteria in a separate process, with a time limit and a clearer
report; `ztf start` reruns them each time you save.
"""

from pathlib import Path

import pytest

from ztf_tutor.pytest_plugin import criterion_params, run_criterion_under_pytest

WORKSPACE = Path(__file__).resolve().parent


@pytest.mark.parametrize(("lesson", "criterion"), criterion_params())
def test_checkpoint(lesson, criterion, tmp_path):
    run_criterion_under_pytest(lesson, criterion, WORKSPACE, tmp_path)
