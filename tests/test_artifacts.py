"""Images named in a verdict are found, and opening them fails gracefully without a display."""

from __future__ import annotations

import os

from ztf_tutor.artifacts import image_paths, open_in_viewer
from ztf_tutor.verdict import CheckResult, CriterionResult


def verdict_naming(*texts: str) -> CheckResult:
    criteria = [CriterionResult(f"criterion {index}", "pass", measured=text) for index, text in enumerate(texts)]
    return CheckResult("2.3", "fast", "pass", 1.0, criteria)


def test_existing_png_paths_found(tmp_path):
    plain = tmp_path / "loss.png"
    plain.write_bytes(b"\x89PNG\r\n\x1a\n")
    result = verdict_naming(f"heatmap written to {plain}", f"see {plain} again", f"missing {tmp_path}/gone.png")
    assert image_paths(result) == [plain]


def test_artifacts_written_during_run_found(tmp_path):
    artifacts = tmp_path / "my workspace" / ".ztf" / "artifacts"
    artifacts.mkdir(parents=True)
    old = artifacts / "old.png"
    old.write_bytes(b"\x89PNG\r\n\x1a\n")
    result = verdict_naming("heatmap written")
    result.started_at = old.stat().st_mtime + 1
    fresh = artifacts / "2.3-heatmap.png"
    fresh.write_bytes(b"\x89PNG\r\n\x1a\n")
    os.utime(fresh, (result.started_at + 1, result.started_at + 1))
    assert image_paths(result, artifacts) == [fresh]


def test_no_display_gives_reason(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    image = tmp_path / "a.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    assert open_in_viewer(image) == "no graphical display or viewer was found"
