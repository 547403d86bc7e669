"""`ztf dev verify`: prove that a lesson's checkpoint can tell right from wrong.

In a temporary workspace it runs the check against the untouched stub (must not pass), the
reference solution (must pass) and every known-bug variant (must fail, and every criterion
the variant declares in `catches` must fail with a message).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .config import Settings
from .curriculum import Lesson, curriculum
from .errors import ZtfError
from .runner import run_check
from .verdict import FAIL, PASS, CheckResult
from .workspace import init_workspace


@dataclass
class Variant:
    name: str
    description: str
    file: str
    find: str
    replace: str
    catches: list[str]
    message_contains: str | None = None


@dataclass
class VariantOutcome:
    name: str
    verdict: str
    ok: bool
    problem: str = ""
    caught_by: list[str] = field(default_factory=list)


@dataclass
class LessonVerification:
    lesson: str
    reference: str
    stub: str
    variants: list[VariantOutcome]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        return {
            "lesson": self.lesson,
            "ok": self.ok,
            "reference": self.reference,
            "stub": self.stub,
            "variants": [{"name": v.name, "verdict": v.verdict, "ok": v.ok, "caught_by": v.caught_by} for v in self.variants],
            "problems": self.problems,
        }


def load_variants(lesson: Lesson) -> list[Variant]:
    path = lesson.check_dir / "variants.toml"
    if not path.is_file():
        return []
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ZtfError(f"{path}: invalid TOML: {error}.") from None
    variants = []
    for index, item in enumerate(raw.get("variant", [])):
        missing = [key for key in ("name", "file", "find", "replace", "catches") if key not in item]
        if missing:
            raise ZtfError(f"{path}: variant #{index + 1} lacks {', '.join(missing)}.", hint="Every variant needs name, file, find, replace and catches.")
        variants.append(Variant(
            item["name"], item.get("description", ""), item["file"], item["find"], item["replace"],
            list(item["catches"]), item.get("message_contains"),
        ))
    return variants


def copy_reference(lesson: Lesson, workspace: Path) -> None:
    for relative in lesson.files:
        shutil.copyfile(lesson.reference_dir / relative, workspace / relative)


def copy_earlier_references(lesson: Lesson, workspace: Path) -> None:
    """Solve every lesson before this one, as a learner who reached it has; later checks may import them."""
    for earlier in curriculum().lessons:
        if earlier.id == lesson.id:
            break
        copy_reference(earlier, workspace)


def apply_variant(lesson: Lesson, variant: Variant, workspace: Path) -> str | None:
    """Write the variant into the workspace; return a problem when the patch does not apply."""
    source = (lesson.reference_dir / variant.file).read_text(encoding="utf-8")
    count = source.count(variant.find)
    if count != 1:
        return f"variant {variant.name}: its `find` text occurs {count} times in the reference {variant.file}; it must occur once."
    (workspace / variant.file).write_text(source.replace(variant.find, variant.replace), encoding="utf-8")
    return None


def _run_in_fresh_workspace(lesson: Lesson, settings: Settings, prepare) -> tuple[CheckResult | None, str | None]:
    with tempfile.TemporaryDirectory(prefix="ztf-verify-") as folder:
        workspace, _ = init_workspace(Path(folder) / "ws", remember=False)
        copy_earlier_references(lesson, workspace.root)
        if prepare == "reference":
            copy_reference(lesson, workspace.root)
        elif isinstance(prepare, Variant):
            copy_reference(lesson, workspace.root)
            problem = apply_variant(lesson, prepare, workspace.root)
            if problem:
                return None, problem
        return run_check(workspace.root, lesson, "fast", settings=settings), None


def verify_lesson(lesson: Lesson, settings: Settings, jobs: int = 1) -> LessonVerification:
    """Run the stub, the reference and every variant of one lesson, `jobs` at a time."""
    variants = load_variants(lesson)
    problems: list[str] = []
    if not variants:
        problems.append(f"lesson {lesson.id} has no known-bug variants in {lesson.check_dir / 'variants.toml'}.")
    targets = ["stub", "reference", *variants]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        outcomes = list(pool.map(lambda target: _run_in_fresh_workspace(lesson, settings, target), targets))

    (stub, _), (reference, _) = outcomes[0], outcomes[1]
    assert stub is not None and reference is not None
    if stub.status == PASS:
        problems.append(f"lesson {lesson.id}: the untouched stub passes the checkpoint, so the check cannot fail.")
    if reference.status != PASS:
        failing = [f"{c.name}: {c.status} {c.message}" for c in reference.criteria if c.status != PASS]
        problems.append(f"lesson {lesson.id}: the reference solution does not pass ({reference.summary()}): " + "; ".join(failing or [reference.message]))

    variant_outcomes = []
    for variant, (result, problem) in zip(variants, outcomes[2:]):
        outcome = _judge_variant(lesson, variant, result, problem)
        if not outcome.ok:
            problems.append(f"lesson {lesson.id}: {outcome.problem}")
        variant_outcomes.append(outcome)
    return LessonVerification(lesson.id, reference.status, stub.status, variant_outcomes, problems)


def _judge_variant(lesson: Lesson, variant: Variant, result: CheckResult | None, problem: str | None) -> VariantOutcome:
    if result is None:
        return VariantOutcome(variant.name, "not run", False, problem or "")
    failing = [c.name for c in result.criteria if c.status in (FAIL, "error")]
    if result.status == PASS:
        return VariantOutcome(variant.name, result.status, False, f"variant {variant.name} passes the checkpoint; no criterion catches it.")
    unknown = [name for name in variant.catches if name not in {c.name for c in result.criteria}]
    if unknown:
        return VariantOutcome(variant.name, result.status, False, f"variant {variant.name} lists criteria the check does not have: {unknown}.", failing)
    missed = [name for name in variant.catches if name not in failing]
    if missed:
        return VariantOutcome(variant.name, result.status, False, f"variant {variant.name} should fail {missed}, but they pass.", failing)
    silent = [c.name for c in result.criteria if c.name in variant.catches and not c.message]
    if silent:
        return VariantOutcome(variant.name, result.status, False, f"variant {variant.name} fails {silent} without a message.", failing)
    if variant.message_contains:
        messages = [c.message for c in result.criteria if c.name in variant.catches]
        if not any(variant.message_contains.lower() in message.lower() for message in messages):
            return VariantOutcome(
                variant.name, result.status, False,
                f"variant {variant.name}: no message of {variant.catches} mentions {variant.message_contains!r}; "
                f"the messages were {messages}.", failing,
            )
    return VariantOutcome(variant.name, result.status, True, "", failing)
