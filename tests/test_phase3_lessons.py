"""Phase 3 lessons beyond `ztf dev verify`: partial solutions, lesson independence and full tiers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ztf_tutor.checking import CheckContext, criteria_of, load_check_module, run_criterion
from ztf_tutor.curriculum import curriculum
from ztf_tutor.runner import run_check
from ztf_tutor.verdict import FAIL, PASS, SKIP

PHASE3 = ("3.1", "3.2", "3.3", "3.4")


def statuses(result) -> dict[str, str]:
    return {criterion.name: criterion.status for criterion in result.criteria}


def reference_source(lesson_id: str) -> str:
    lesson = curriculum().lesson(lesson_id)
    return (lesson.reference_dir / lesson.files[0]).read_text(encoding="utf-8")


def write_learner_file(workspace, lesson_id: str, source: str) -> None:
    lesson = curriculum().lesson(lesson_id)
    (workspace.root / lesson.files[0]).write_text(source, encoding="utf-8")


def replace_function_body(source: str, signature: str, message: str) -> str:
    """Replace the body of the function that starts with `signature` by a NotImplementedError."""
    start = source.index(signature)
    header_end = source.index(":\n", start) + 2
    indent = " " * (len(signature) - len(signature.lstrip()) + 4)
    next_def = min(
        (index for index in (source.find("\ndef ", header_end), source.find("\n    def ", header_end),
                             source.find("\nclass ", header_end), source.find("\n@", header_end),
                             source.find("\n    @", header_end)) if index != -1),
        default=len(source),
    )
    return source[:header_end] + f'{indent}raise NotImplementedError("{message}")\n' + source[next_def:]


def test_phase3_lessons_declared():
    lessons = {lesson.id: lesson for lesson in curriculum().lessons}

    for lesson_id in PHASE3:
        assert lesson_id in lessons
        lesson = lessons[lesson_id]
        assert lesson.phase_title == "Transformers"
        assert len(lesson.hints) >= 3
        assert lesson.files[0].startswith("phase3/")
    assert lessons["3.3"].tiers["full"].gpu


def test_workspace_has_phase3_stubs(workspace):
    for name in ("__init__.py", "gpt.py", "bpe.py", "train.py", "generate.py"):
        assert (workspace.root / "phase3" / name).is_file()


@pytest.mark.slow
def test_gpt_stub_passes_nothing(workspace):
    result = run_check(workspace.root, curriculum().lesson("3.1"), "fast")

    assert result.status == FAIL
    assert PASS not in statuses(result).values()


@pytest.mark.slow
def test_gpt_bias_free_parameter_formula_alone(workspace):
    """A correct model whose formula omits the bias-free case fails only the count."""
    source = reference_source("3.1").replace(
        "ln = 2 * C if config.bias else C", "ln = 2 * C"
    )
    write_learner_file(workspace, "3.1", source)

    result = run_check(workspace.root, curriculum().lesson("3.1"), "fast")
    failing = [name for name, status in statuses(result).items() if status != PASS]

    assert failing == ["The number of parameters equals gpt_param_count(config) and the closed form, with and without biases"]


@pytest.mark.slow
def test_bpe_without_save_passes_the_rest(workspace):
    source = reference_source("3.2")
    source = replace_function_body(source, "    def save(self, path):", "BPETokenizer.save is not implemented yet")
    write_learner_file(workspace, "3.2", source)

    result = run_check(workspace.root, curriculum().lesson("3.2"), "fast")
    by_name = statuses(result)

    assert by_name.pop("save and load reproduce the merges in order and the same encodings") == FAIL
    assert set(by_name.values()) == {PASS}


@pytest.mark.slow
def test_training_schedule_only(workspace):
    """With only lr_at written, the two schedule criteria pass and the rest fail."""
    template = (workspace.root / "phase3" / "train.py").read_text(encoding="utf-8")
    reference = reference_source("3.3")
    lr_at = reference[reference.index("def lr_at"):reference.index("def configure_optimizer")]
    stub_lr_at = template[template.index("def lr_at"):template.index("def configure_optimizer")]
    write_learner_file(workspace, "3.3", template.replace(stub_lr_at, lr_at))

    result = run_check(workspace.root, curriculum().lesson("3.3"), "fast")
    passing = [name for name, status in statuses(result).items() if status == PASS]

    assert passing == [
        "lr_at is 0 at step 0, max_lr at the end of warmup, (max_lr + min_lr)/2 halfway through the decay and min_lr from max_steps on",
        "lr_at rises linearly during warmup and never increases after it",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("lesson_id", ["3.3", "3.4"])
def test_passes_with_unsolved_gpt(workspace, reference, lesson_id):
    """3.3 and 3.4 judge their own file on the check's GPT, so an unsolved 3.1 does not fail them."""
    reference(lesson_id)

    result = run_check(workspace.root, curriculum().lesson(lesson_id), "fast")

    assert (workspace.root / "phase3" / "gpt.py").read_text(encoding="utf-8").count("is not implemented yet") > 3
    assert result.status == PASS, [c.message for c in result.criteria if c.status != PASS]


@pytest.mark.slow
def test_generation_sampling_without_cache(workspace):
    """Sampling and plain generation work before the cache exists; only the cache criteria fail."""
    source = reference_source("3.4")
    source = replace_function_body(source, "def forward_cached(model, idx, cache):", "forward_cached is not implemented yet")
    write_learner_file(workspace, "3.4", source)

    result = run_check(workspace.root, curriculum().lesson("3.4"), "fast")
    failing = {name for name, status in statuses(result).items() if status != PASS}

    assert failing == {
        "forward_cached on a whole prompt matches the model's logits within 1e-10 and caches every position",
        "Each cached step adds one position to the cache, and positions continue from the cache length",
        "Generation with the KV cache equals generation without it, token for token, also beyond block_size",
        "stream yields one (B, 1) token tensor per step, and generate returns the prompt followed by them",
    }


def full_tier_criterion(check_name: str, name_start: str):
    module = load_check_module(Path(curriculum().lesson(check_name).check_file))
    full_only = [f for f in criteria_of(module, "full") if f not in criteria_of(module, "fast")]
    matches = [f for f in full_only if f.__ztf_criterion__.startswith(name_start)]
    assert len(matches) == 1
    return matches[0]


@pytest.fixture
def solved_phase3(workspace, reference, monkeypatch):
    """A workspace with every phase 3 reference in place, importable in this process."""
    for lesson_id in PHASE3:
        reference(lesson_id)
    monkeypatch.syspath_prepend(str(workspace.root))
    for name in [m for m in sys.modules if m == "phase3" or m.startswith("phase3.")]:
        monkeypatch.delitem(sys.modules, name)
    return workspace


def test_shakespeare_missing_data_message(solved_phase3, tmp_path):
    criterion_function = full_tier_criterion("3.3", "On Tiny Shakespeare")
    context = CheckContext(solved_phase3.root, "full", tmp_path / "scratch", tmp_path / "no-data")

    result = run_criterion(criterion_function, context)

    assert result.status == FAIL
    assert "ztf data get tinyshakespeare" in result.message


def test_shakespeare_skips_without_gpu(solved_phase3, tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU, so the criterion would train instead of skipping")
    data = tmp_path / "data"
    (data / "tinyshakespeare").mkdir(parents=True)
    (data / "tinyshakespeare" / "input.txt").write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n")
    context = CheckContext(solved_phase3.root, "full", tmp_path / "scratch", data)

    result = run_criterion(full_tier_criterion("3.3", "On Tiny Shakespeare"), context)

    assert result.status == SKIP
    assert "CUDA GPU" in result.message


def test_shakespeare_run_on_cpu(solved_phase3, tmp_path):
    """The full tier's training path, shrunk to a few CPU steps: it trains and saves what the lesson promises."""
    module = load_check_module(Path(curriculum().lesson("3.3").check_file))
    text = module.word_text(3, 6000).replace("the ", "ROMEO: the\n")
    context = CheckContext(solved_phase3.root, "full", tmp_path / "scratch", None)
    model_settings = dict(block_size=16, n_layer=1, n_head=2, n_embd=16, dropout=0.1, bias=True)
    train_settings = dict(max_steps=30, batch_size=8, block_size=16, max_lr=3e-3, min_lr=3e-4, warmup_steps=5,
                          eval_interval=10, eval_iters=2)

    val, history, _ = module.train_on_text(context, text, "cpu", model_settings, train_settings, final_eval_iters=4)

    runs = solved_phase3.root / "runs" / "3.3"
    assert val < history["train_loss"][0]
    assert [step for step, _ in history["val_loss"]] == [10, 20, 30]
    assert (runs / "samples.txt").read_text(encoding="utf-8").count("----------") == 2
    assert (runs / "model.pt").is_file()
    assert "final_val_loss" in (runs / "history.json").read_text(encoding="utf-8")
