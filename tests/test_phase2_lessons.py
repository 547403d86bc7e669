"""Lesson-specific behaviour of the phase 2 checkpoints, beyond what `ztf dev verify` proves."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from ztf_tutor.checking import CheckContext, load_check_module
from ztf_tutor.curriculum import curriculum
from ztf_tutor.runner import run_check
from ztf_tutor.verdict import FAIL, PASS, SKIP

pytestmark = pytest.mark.slow

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_partial(workspace_root: Path, lesson_id: str, stubbed_source: str) -> None:
    """Copy the lesson's reference, then append definitions that put some names back to stubs."""
    lesson = curriculum().lesson(lesson_id)
    relative = lesson.files[0]
    reference = (lesson.reference_dir / relative).read_text(encoding="utf-8")
    (workspace_root / relative).write_text(reference + "\n\n" + stubbed_source, encoding="utf-8")


def statuses(result) -> dict[str, str]:
    return {criterion.name: criterion.status for criterion in result.criteria}


def by_name(result, fragment: str):
    matches = [criterion for criterion in result.criteria if fragment in criterion.name]
    assert len(matches) == 1, [criterion.name for criterion in result.criteria]
    return matches[0]


def test_attention_partial_file_and_heatmap(workspace):
    write_partial(workspace.root, "2.3", '''
class MultiHeadAttention(nn.Module):
    def __init__(self, embed_dim, num_heads):
        super().__init__()
        raise NotImplementedError("MultiHeadAttention.__init__ is not implemented yet")
''')
    result = run_check(workspace.root, curriculum().lesson("2.3"), "fast")

    assert by_name(result, "scaled_dot_product_attention matches").status == PASS
    assert by_name(result, "masked entries are exactly 0").status == PASS
    multi_head = by_name(result, "loads nn.MultiheadAttention's weights")
    assert multi_head.status == FAIL
    assert "MultiHeadAttention.__init__ is not implemented yet" in multi_head.message
    assert by_name(result, "In float32").status == FAIL

    heatmap = by_name(result, "attention_heatmap writes a PNG")
    assert heatmap.status == PASS
    path = Path(heatmap.measured.split("heatmap written to ", 1)[1])
    assert path.is_file()
    assert path.is_relative_to(workspace.root / ".ztf" / "artifacts")
    assert path.read_bytes()[:8] == PNG_SIGNATURE


def test_attention_heatmap_rejects_open_figure(workspace):
    write_partial(workspace.root, "2.3", '''
def attention_heatmap(weights, query_labels, key_labels, path):
    figure, axes = plt.subplots()
    axes.imshow(weights.detach().numpy())
    figure.savefig(path)
    return Path(path)
''')
    result = run_check(workspace.root, curriculum().lesson("2.3"), "fast")

    heatmap = by_name(result, "attention_heatmap writes a PNG")
    assert heatmap.status == FAIL
    assert "plt.close" in heatmap.message
    assert by_name(result, "loads nn.MultiheadAttention's weights").status == PASS


def test_rnn_cells_pass_while_sampling_is_missing(workspace):
    write_partial(workspace.root, "2.2", '''
def temperature_probs(logits, temperature):
    raise NotImplementedError("temperature_probs is not implemented yet")


def sample_next(logits, temperature, generator=None):
    raise NotImplementedError("sample_next is not implemented yet")
''')
    result = run_check(workspace.root, curriculum().lesson("2.2"), "full")
    found = statuses(result)

    for cell in ("LSTMCell", "GRUCell", "RNNCell"):
        assert found[f"{cell} matches torch.nn.{cell} with copied weights over 20 steps within 1e-10"] == PASS
    assert by_name(result, "beats the bigram entropy").status == PASS
    assert by_name(result, "temperature_probs equals").status == FAIL
    assert by_name(result, "sample_next is argmax").status == FAIL
    assert by_name(result, "generate at temperature 0").status == FAIL

    shakespeare = by_name(result, "Tiny Shakespeare")
    assert shakespeare.status == FAIL
    assert "ztf data get tinyshakespeare" in shakespeare.message


def test_rnn_full_tier_skips_without_cuda(workspace, reference, isolated_home):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present, so the criterion trains instead of skipping")
    reference("2.2")
    data = isolated_home / "data" / "tinyshakespeare"
    data.mkdir(parents=True)
    (data / "input.txt").write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n", encoding="utf-8")

    result = run_check(workspace.root, curriculum().lesson("2.2"), "full")

    shakespeare = by_name(result, "Tiny Shakespeare")
    assert shakespeare.status == SKIP
    assert "CUDA" in shakespeare.message
    assert result.status == SKIP  # not a pass: the full checkpoint could not run here


def load_by_path(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shakespeare_training_runs_on_cpu(tmp_path):
    lesson = curriculum().lesson("2.2")
    check = load_check_module(lesson.check_file)
    solution = load_by_path("phase2_rnn_reference", lesson.reference_dir / "phase2" / "rnn.py")
    text = (lesson.check_dir / "passage.txt").read_text(encoding="utf-8") * 12
    context = CheckContext(tmp_path, "full", tmp_path / "scratch", tmp_path)

    losses, sample = check.shakespeare_losses(context, solution, text, "cpu", steps=2, hidden_size=8,
                                              validation_chars=200)

    assert sorted(losses) == ["gru", "lstm", "rnn"]
    assert all(math.isfinite(loss) for loss in losses.values())
    assert len(sample) == 300


def test_unet_shapes_pass_while_training_is_missing(workspace):
    write_partial(workspace.root, "2.1", '''
def train_step(model, optimizer, clean, noise_std, generator=None):
    raise NotImplementedError("train_step is not implemented yet")
''')
    result = run_check(workspace.root, curriculum().lesson("2.1"), "fast")

    assert by_name(result, "keeps the input's shape").status == PASS
    assert by_name(result, "Every level has the expected shape").status == PASS
    assert by_name(result, "Skip connections carry the image").status == PASS
    assert by_name(result, "The output layer is linear").status == PASS
    step = by_name(result, "train_step trains in training mode")
    assert step.status == FAIL
    assert "train_step is not implemented yet" in step.message
    assert by_name(result, "denoise at least halves").status == FAIL


def test_unet_names_the_level_with_wrong_channels(workspace):
    write_partial(workspace.root, "2.1", '''
_reference_init = UNet.__init__


def _narrow_bottleneck_init(self, in_channels=1, out_channels=1, base_channels=8, depth=2):
    _reference_init(self, in_channels, out_channels, base_channels, depth)
    width = base_channels * 2 ** (depth - 1)
    self.bottleneck = DoubleConv(width, width)
    self.upsamples[0] = nn.ConvTranspose2d(width, width, 2, stride=2)


UNet.__init__ = _narrow_bottleneck_init
''')
    result = run_check(workspace.root, curriculum().lesson("2.1"), "fast")

    levels = by_name(result, "Every level has the expected shape")
    assert levels.status == FAIL
    assert "bottleneck outputs (2, 16, 4, 4)" in levels.message
    assert levels.threshold == "= (2, 32, 4, 4)"
