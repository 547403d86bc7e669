"""Load and validate the curriculum: one Markdown file with YAML front matter per lesson.

Validation collects every problem in every file before raising, and each problem names the
file, the key, what is wrong and the fix. `ztf dev lint` prints them; the tests run it too.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from . import locations
from .errors import CurriculumError, UnknownLessonError

TIER_NAMES = ("fast", "full")
LESSON_SECTIONS = ("Core Concepts", "Build-Along", "Checkpoint", "Guided Exercise", "Reflect")
PHASE_PAGE = "index.md"
MIN_HINTS = 3
LESSON_ID = re.compile(r"^(\d{1,2})\.(\d{1,2})$")
FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n?(.*)\Z", re.DOTALL)


@dataclass(frozen=True)
class Tier:
    """One way of running a lesson's checkpoint."""

    name: str
    timeout_s: float
    gpu: bool = False
    description: str = ""


@dataclass(frozen=True)
class Lesson:
    """A lesson as its Markdown file declares it."""

    id: str
    title: str
    phase: int
    phase_title: str
    order: int
    files: tuple[str, ...]
    check: str
    tiers: dict[str, Tier]
    packages: tuple[str, ...]
    hints: tuple[str, ...]
    body: str
    path: Path
    sections: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def check_dir(self) -> Path:
        return locations.checks_dir() / self.check

    @property
    def check_file(self) -> Path:
        return self.check_dir / "check.py"

    @property
    def reference_dir(self) -> Path:
        return self.check_dir / "reference"

    @property
    def needs_gpu(self) -> bool:
        return any(tier.gpu for tier in self.tiers.values())

    def criteria_names(self) -> list[str]:
        return criteria_in_check(self.check_file)


@dataclass(frozen=True)
class Phase:
    number: int
    title: str
    body: str
    path: Path | None
    lessons: tuple[Lesson, ...]


@dataclass(frozen=True)
class Curriculum:
    phases: tuple[Phase, ...]

    @property
    def lessons(self) -> list[Lesson]:
        return [lesson for phase in self.phases for lesson in phase.lessons]

    def lesson(self, lesson_id: str) -> Lesson:
        """Find a lesson by id ("1.2"), by its check name, or by a unique title word."""
        for lesson in self.lessons:
            if lesson_id in (lesson.id, lesson.check):
                return lesson
        matches = [lesson for lesson in self.lessons if lesson_id.lower() in lesson.title.lower()]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(lesson.id for lesson in self.lessons)
        raise UnknownLessonError(
            f'No lesson "{lesson_id}".', hint=f"Known lessons: {known}. Run `ztf lessons` to list them."
        )

    def lesson_for_file(self, relative: str) -> Lesson | None:
        """Find the lesson that watches a workspace file (a POSIX path relative to the workspace)."""
        for lesson in self.lessons:
            if relative in lesson.files:
                return lesson
        return None


def criteria_in_check(check_file: Path) -> list[str]:
    """Read the criterion names of a check module without importing it (no torch at lint time)."""
    tree = ast.parse(check_file.read_text(encoding="utf-8"), filename=str(check_file))
    names = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for decorator in node.decorator_list:
            if (
                isinstance(decorator, ast.Call)
                and getattr(decorator.func, "id", getattr(decorator.func, "attr", None)) == "criterion"
                and decorator.args
                and isinstance(decorator.args[0], ast.Constant)
            ):
                names.append(str(decorator.args[0].value))
    return names


def split_sections(body: str) -> dict[str, str]:
    """Map each level-2 heading of a Markdown body to the text under it."""
    sections: dict[str, str] = {}
    current = None
    lines: list[str] = []
    in_fence = False
    for line in body.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        if not in_fence and line.startswith("## "):
            if current is not None:
                sections[current] = "\n".join(lines).strip()
            current = line[3:].strip()
            lines = []
        elif current is not None:
            lines.append(line)
    if current is not None:
        sections[current] = "\n".join(lines).strip()
    return sections


def checkpoint_items(section: str) -> list[str]:
    """Extract the bullet items of a Checkpoint section: the criteria, one per item."""
    items = []
    for line in section.splitlines():
        match = re.match(r"^[-*] (.+)$", line.strip())
        if match:
            items.append(match.group(1).strip())
    return items


class _Problems:
    """Collects validation problems for one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, key: str | None, what: str, fix: str) -> None:
        where = f'key "{key}": ' if key else ""
        self.items.append(f"{display_path(self.path)}: {where}{what} {fix}")


def display_path(path: Path) -> str:
    try:
        return str(path.relative_to(locations.content_dir()))
    except ValueError:
        return str(path)


def read_front_matter(path: Path, problems: _Problems) -> tuple[dict[str, Any], str] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problems.add(None, f"cannot be read ({error}).", "Save it as UTF-8 text.")
        return None
    match = FRONT_MATTER.match(text.replace("\r\n", "\n"))
    if not match:
        problems.add(None, "has no front matter.", "Start the file with a '---' line, the keys, and another '---' line.")
        return None
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" at line {mark.line + 2}" if mark else ""
        problems.add(None, f"front matter is not valid YAML{line}: {getattr(error, 'problem', error)}.", "Fix the YAML syntax there.")
        return None
    if not isinstance(meta, dict):
        problems.add(None, "front matter is not a mapping of keys to values.", "Write it as `key: value` lines.")
        return None
    return meta, match.group(2)


def _require(meta: dict, key: str, kind: type | tuple[type, ...], problems: _Problems, example: str) -> Any:
    if key not in meta:
        problems.add(key, "is missing.", f"Add it, for example `{example}`.")
        return None
    value = meta[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        problems.add(key, f"has the invalid value {value!r}.", f"Use a value like `{example}`.")
        return None
    return value


def _parse_tiers(raw: Any, problems: _Problems) -> dict[str, Tier]:
    example = "tiers: {fast: {timeout: 60}, full: {timeout: 600, gpu: false}}"
    if not isinstance(raw, dict) or "fast" not in raw:
        problems.add("tiers", f"must map tier names to settings and include fast; got {raw!r}.", f"Write `{example}`.")
        return {}
    tiers = {}
    for name, settings in raw.items():
        if name not in TIER_NAMES:
            problems.add("tiers", f'has the unknown tier "{name}".', f"Use {' or '.join(TIER_NAMES)}.")
            continue
        settings = settings or {}
        timeout = settings.get("timeout") if isinstance(settings, dict) else None
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
            problems.add(f"tiers.{name}.timeout", f"must be a positive number of seconds; got {timeout!r}.", f"Write `{example}`.")
            continue
        unknown = set(settings) - {"timeout", "gpu", "description"}
        if unknown:
            problems.add(f"tiers.{name}", f"has unknown keys {sorted(unknown)}.", "Use timeout, gpu and description.")
        tiers[name] = Tier(name, float(timeout), bool(settings.get("gpu", False)), str(settings.get("description", "")))
    return tiers


def _string_list(meta: dict, key: str, problems: _Problems, example: str, required: bool = True) -> tuple[str, ...]:
    raw = meta.get(key, None if required else [])
    if raw is None:
        problems.add(key, "is missing.", f"Add it, for example `{example}`.")
        return ()
    if not isinstance(raw, list) or not all(isinstance(item, str) and item.strip() for item in raw):
        problems.add(key, f"must be a list of non-empty strings; got {raw!r}.", f"Write `{example}`.")
        return ()
    return tuple(raw)


LESSON_KEYS = {"title", "section_id", "phase", "phase_title", "order", "files", "check", "tiers", "packages", "hints"}


def parse_lesson(path: Path) -> tuple[Lesson | None, list[str]]:
    """Parse and validate one lesson file, returning the lesson or the problems found."""
    problems = _Problems(path)
    parsed = read_front_matter(path, problems)
    if parsed is None:
        return None, problems.items
    meta, body = parsed

    for key in sorted(set(meta) - LESSON_KEYS):
        problems.add(key, "is not a lesson key.", f"Remove it, or use one of: {', '.join(sorted(LESSON_KEYS))}.")
    title = _require(meta, "title", str, problems, 'title: "Micrograd"')
    section_id = _require(meta, "section_id", str, problems, 'section_id: "1.2"')
    phase = _require(meta, "phase", int, problems, "phase: 1")
    phase_title = _require(meta, "phase_title", str, problems, 'phase_title: "Foundations"')
    order = _require(meta, "order", int, problems, "order: 2")
    check = _require(meta, "check", str, problems, "check: p1_micrograd")
    files = _string_list(meta, "files", problems, "files: [phase1/micrograd.py]")
    packages = _string_list(meta, "packages", problems, "packages: [scikit-learn]", required=False)
    hints = _string_list(meta, "hints", problems, 'hints: ["First step", "Second step", "Third step"]')
    tiers = _parse_tiers(meta.get("tiers"), problems)

    if section_id is not None and not LESSON_ID.match(section_id):
        problems.add("section_id", f"{section_id!r} is not a lesson id.", 'Use "PHASE.NUMBER", for example "1.2".')
    elif section_id and phase is not None and int(section_id.split(".")[0]) != phase:
        problems.add("section_id", f"{section_id!r} does not start with the phase number {phase}.", "Make the two agree.")
    if phase is not None and not 1 <= phase <= 14:
        problems.add("phase", f"{phase} is out of range.", "Use a phase number from 1 to 14.")
    if hints and len(hints) < MIN_HINTS:
        problems.add("hints", f"has {len(hints)} steps.", f"Write at least {MIN_HINTS}, the last one close to the answer.")
    for relative in files:
        pure = PurePosixPath(relative)
        if pure.is_absolute() or ".." in pure.parts:
            problems.add("files", f"{relative!r} leaves the workspace.", "Use a path relative to the workspace, with no '..'.")
        elif not (locations.template_dir() / relative).is_file():
            problems.add("files", f"{relative!r} is not in workspace_template/.", "Add the stub there or fix the path.")

    sections = split_sections(body)
    _validate_sections(sections, problems)
    if check is not None:
        _validate_check(check, files, sections, problems)

    if problems.items:
        return None, problems.items
    lesson = Lesson(
        id=section_id, title=title, phase=phase, phase_title=phase_title, order=order,
        files=files, check=check, tiers=tiers, packages=packages, hints=hints,
        body=body, path=path, sections=sections,
    )
    return lesson, []


def _validate_sections(sections: dict[str, str], problems: _Problems) -> None:
    present = [name for name in sections if name in LESSON_SECTIONS]
    for name in LESSON_SECTIONS:
        if name not in sections:
            problems.add(None, f'has no "## {name}" section.', f"Add it; a lesson has {', '.join(LESSON_SECTIONS)} in that order.")
    if present != [name for name in LESSON_SECTIONS if name in present]:
        problems.add(None, f"has its sections in the order {present}.", f"Order them as {list(LESSON_SECTIONS)}.")


def _validate_check(check: str, files: tuple[str, ...], sections: dict[str, str], problems: _Problems) -> None:
    check_dir = locations.checks_dir() / check
    check_file = check_dir / "check.py"
    if not check_file.is_file():
        problems.add("check", f"names {check!r}, but {display_path(check_file)} does not exist.", "Create the check or fix the name.")
        return
    try:
        criteria = criteria_in_check(check_file)
    except SyntaxError as error:
        problems.add("check", f"{display_path(check_file)} has a syntax error at line {error.lineno}.", "Fix the check module.")
        return
    if not criteria:
        problems.add("check", f"{display_path(check_file)} defines no @criterion.", "Add at least one criterion.")
    listed = checkpoint_items(sections.get("Checkpoint", ""))
    if "Checkpoint" in sections and listed != criteria:
        missing = [name for name in criteria if name not in listed]
        extra = [name for name in listed if name not in criteria]
        problems.add(
            None,
            f"its Checkpoint section does not list the check's criteria word for word (missing: {missing}; not in the check: {extra}).",
            "Make each bullet of the Checkpoint section one criterion name, in the check's order.",
        )
    for relative in files:
        if not (check_dir / "reference" / relative).is_file():
            problems.add("files", f"{relative!r} has no reference solution at {display_path(check_dir / 'reference' / relative)}.", "Add it.")


def parse_phase_page(path: Path) -> tuple[tuple[int, str, str] | None, list[str]]:
    problems = _Problems(path)
    parsed = read_front_matter(path, problems)
    if parsed is None:
        return None, problems.items
    meta, body = parsed
    phase = _require(meta, "phase", int, problems, "phase: 1")
    title = _require(meta, "phase_title", str, problems, 'phase_title: "Foundations"')
    if problems.items:
        return None, problems.items
    return (phase, title, body), []


def load_curriculum(root: Path | None = None) -> Curriculum:
    """Load every phase page and lesson below root; raise CurriculumError listing all problems."""
    root = root or locations.curriculum_dir()
    if not root.is_dir():
        raise CurriculumError([f"{root}: the curriculum folder is missing. Reinstall ztf (pip install --force-reinstall ztf-tutor)."])
    problems: list[str] = []
    pages: dict[int, tuple[str, str, Path]] = {}
    lessons: list[Lesson] = []
    for path in sorted(root.rglob("*.md")):
        if path.name == PHASE_PAGE:
            page, found = parse_phase_page(path)
            problems += found
            if page:
                pages[page[0]] = (page[1], page[2], path)
        elif not path.name.startswith(("_", ".")) and path.name.lower() != "readme.md":
            lesson, found = parse_lesson(path)
            problems += found
            if lesson:
                lessons.append(lesson)
    problems += _cross_check(lessons, pages)
    if problems:
        raise CurriculumError(problems)

    phases = []
    for number in sorted(pages):
        title, body, path = pages[number]
        members = sorted((lesson for lesson in lessons if lesson.phase == number), key=lambda lesson: lesson.order)
        phases.append(Phase(number, title, body, path, tuple(members)))
    return Curriculum(tuple(phases))


def _cross_check(lessons: list[Lesson], pages: dict[int, tuple[str, str, Path]]) -> list[str]:
    problems = []
    seen: dict[str, Lesson] = {}
    watched: dict[str, Lesson] = {}
    for lesson in lessons:
        where = display_path(lesson.path)
        if lesson.id in seen:
            problems.append(f'{where}: key "section_id": {lesson.id!r} is also used by {display_path(seen[lesson.id].path)}. Give each lesson its own id.')
        seen[lesson.id] = lesson
        if lesson.phase not in pages:
            problems.append(f"{where}: key \"phase\": phase {lesson.phase} has no {PHASE_PAGE}. Add the phase's overview page.")
        elif pages[lesson.phase][0] != lesson.phase_title:
            problems.append(f'{where}: key "phase_title": {lesson.phase_title!r} differs from the phase page\'s {pages[lesson.phase][0]!r}. Use the same title.')
        for relative in lesson.files:
            if relative in watched:
                problems.append(f'{where}: key "files": {relative!r} is also watched by lesson {watched[relative].id}. A file belongs to one lesson.')
            watched[relative] = lesson
    return problems


@lru_cache(maxsize=4)
def _cached(root: Path) -> Curriculum:
    return load_curriculum(root)


def curriculum() -> Curriculum:
    """Load the installed curriculum once per process."""
    return _cached(locations.curriculum_dir())
