"""The API that checkpoint modules in checks/ are written against.

A check module defines criteria as plain functions decorated with @criterion. Each takes a
CheckContext and either returns (a pass, optionally with a Measured value) or raises
CriterionFailed through `fail` or `expect_close`. The runner calls them directly in a child
process; the pytest plugin collects the same functions as tests.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import random
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, NoReturn

from .verdict import ERROR, FAIL, PASS, SKIP, CriterionResult

SEED = 1234


@dataclass
class Measured:
    """A measured value and the threshold it was held to, shown next to the criterion."""

    measured: str
    threshold: str | None = None


class CriterionFailed(Exception):
    """The learner's code ran but returned a wrong result."""

    def __init__(self, message: str, measured: str | None = None, threshold: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.measured = measured
        self.threshold = threshold


class CriterionSkipped(Exception):
    """The criterion cannot run here (for example, real data or a GPU is missing)."""


class LearnerImportError(Exception):
    """A learner module failed to import; carries the original exception."""

    def __init__(self, module: str, error: BaseException) -> None:
        super().__init__(module)
        self.module = module
        self.error = error


def fail(message: str, measured: Any = None, threshold: Any = None) -> NoReturn:
    """Fail the current criterion with a message that states what was wrong and where to look."""
    raise CriterionFailed(
        message,
        None if measured is None else str(measured),
        None if threshold is None else str(threshold),
    )


def skip(reason: str) -> NoReturn:
    raise CriterionSkipped(reason)


def fmt(value: float) -> str:
    """Format a measured number compactly: 3e-09, 0.63, 1234."""
    if value != value:  # NaN
        return "nan"
    if value == 0:
        return "0"
    if abs(value) < 1e-3 or abs(value) >= 1e5:
        return f"{value:.1e}"
    return f"{value:.4g}"


def expect_close(label: str, error: float, tolerance: float, message: str) -> Measured:
    """Pass when error <= tolerance, else fail with the message; both cases report the error."""
    measured = f"{label} = {fmt(error)}"
    threshold = f"≤ {fmt(tolerance)}"
    if not error <= tolerance:  # also catches NaN
        raise CriterionFailed(message, measured, threshold)
    return Measured(measured, threshold)


def copy_parameters(learner: Any, reference: Any, label: str, torch_name: str, where: str, shape_note: str = "") -> None:
    """Load a torch module's weights into the learner's module, which must use the same parameter names.

    Fails naming the missing or extra parameters, or the first one whose shape differs, so a learner
    whose layer is otherwise right learns exactly which attribute to rename or reshape.
    """
    expected = dict(reference.named_parameters())
    names = sorted(name for name, _ in learner.named_parameters())
    if names != sorted(expected):
        fail(f"{label} has parameters {names}; it needs exactly {sorted(expected)}, the names {torch_name} uses. "
             f"Look at {where}.",
             measured=f"{len(names)} parameters", threshold=f"{len(expected)}: {sorted(expected)}")
    for name, parameter in learner.named_parameters():
        expected_shape = tuple(expected[name].shape)
        if tuple(parameter.shape) != expected_shape:
            fail(f"{name} has shape {tuple(parameter.shape)}; {torch_name}'s has {expected_shape}{shape_note}. "
                 f"Look at {where}.",
                 measured=str(tuple(parameter.shape)), threshold=f"= {expected_shape}")
    learner.load_state_dict(reference.state_dict())


CriterionFunction = Callable[["CheckContext"], "Measured | None"]


def criterion(name: str, *, tiers: tuple[str, ...] = ("fast", "full")) -> Callable[[CriterionFunction], CriterionFunction]:
    """Mark a function as a checkpoint criterion. The name is the sentence the lesson shows."""

    def mark(function: CriterionFunction) -> CriterionFunction:
        function.__ztf_criterion__ = name  # type: ignore[attr-defined]
        function.__ztf_tiers__ = tiers  # type: ignore[attr-defined]
        return function

    return mark


def criterion_name(function: CriterionFunction) -> str:
    """The sentence a criterion function was registered with."""
    return str(function.__ztf_criterion__)  # type: ignore[attr-defined]


def criteria_of(module: ModuleType, tier: str) -> list[CriterionFunction]:
    """List the criteria a check module defines for a tier, in source order."""
    found = [value for value in vars(module).values() if callable(value) and hasattr(value, "__ztf_criterion__")]
    found.sort(key=lambda function: function.__code__.co_firstlineno)
    return [function for function in found if tier in function.__ztf_tiers__]


class CheckContext:
    """Services for a criterion: the learner's modules, a scratch folder and progress reports."""

    def __init__(
        self,
        workspace: Path,
        tier: str,
        scratch: Path,
        data_dir: Path | None = None,
        on_progress: Callable[[float, str], None] | None = None,
    ) -> None:
        self.workspace = workspace
        self.tier = tier
        self.scratch = scratch
        self.data_dir = data_dir
        self._on_progress = on_progress
        self._modules: dict[str, ModuleType | LearnerImportError] = {}

    def learner(self, module: str) -> ModuleType:
        """Import a learner module (dotted name relative to the workspace) once per run."""
        cached = self._modules.get(module)
        if cached is None:
            try:
                cached = importlib.import_module(module)
            except (Exception, SystemExit, KeyboardInterrupt) as error:
                cached = LearnerImportError(module, error)
            self._modules[module] = cached
        if isinstance(cached, LearnerImportError):
            raise cached
        return cached

    def learner_file(self, relative: str) -> Path:
        return self.workspace / relative

    def progress(self, fraction: float, text: str = "") -> None:
        """Report progress in [0, 1]; the tutor shows it as a bar."""
        if self._on_progress is not None:
            self._on_progress(max(0.0, min(1.0, fraction)), text)


def seed_everything(seed: int = SEED) -> None:
    """Seed every generator a check or learner code may use, so verdicts repeat."""
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def learner_location(tb: TracebackType | None, workspace: Path) -> tuple[str | None, str | None]:
    """Find the innermost traceback frame in the learner's workspace, as ("path:line", "function")."""
    found: tuple[str | None, str | None] = (None, None)
    root = str(workspace.resolve())
    for frame, line in traceback.walk_tb(tb):
        filename = os.path.abspath(frame.f_code.co_filename)
        if filename.startswith(root + os.sep):
            found = (f"{os.path.relpath(filename, root)}:{line}", frame.f_code.co_name)
    return found


def syntax_location(error: SyntaxError, workspace: Path) -> str | None:
    if not error.filename:
        return None
    path = Path(error.filename)
    try:
        return f"{path.resolve().relative_to(workspace.resolve())}:{error.lineno}"
    except ValueError:
        return f"{error.filename}:{error.lineno}"


def describe_exception(error: BaseException, workspace: Path) -> tuple[str, str, str | None]:
    """Turn an exception from a criterion into (status, message, location) for the learner."""
    if isinstance(error, LearnerImportError):
        inner = error.error
        if isinstance(inner, SyntaxError):
            where = syntax_location(inner, workspace)
            return ERROR, f"{where}: SyntaxError: {inner.msg}. Fix the syntax and save again.", where
        status, message, where = describe_exception(inner, workspace)
        if isinstance(inner, NotImplementedError):
            return status, message, where
        return ERROR, f"importing {error.module} failed: {message}", where

    where, function = learner_location(error.__traceback__, workspace)
    at = ""
    if where:
        at = f" at {where}"
        if function and function != "<module>":
            at += f" in {function}()"
    if isinstance(error, NotImplementedError):
        detail = str(error) or "a function is not implemented yet"
        return FAIL, f"{detail}{at}.", where
    if isinstance(error, SystemExit):
        return ERROR, f"learner code raised SystemExit({error.code!r}){at}; remove the sys.exit/exit() call.", where
    if isinstance(error, KeyboardInterrupt):
        return ERROR, f"learner code raised KeyboardInterrupt{at}.", where
    if isinstance(error, MemoryError):
        return ERROR, f"ran out of memory{at}: the check's memory ceiling was reached. Look for a tensor or list that grows without bound.", where
    name = type(error).__name__
    return ERROR, f"{name}: {error}{at}.", where


SCRATCH_LABEL = "<check's temporary folder>"


def run_criterion(function: CriterionFunction, context: CheckContext) -> CriterionResult:
    """Run one criterion with fresh seeds and turn any outcome into a CriterionResult.

    The scratch folder's random name is replaced by a fixed label in the result, so the same
    code always gets the same verdict, messages included.
    """
    result = _run_criterion(function, context)
    scratch = str(context.scratch)
    for field_name in ("message", "measured", "threshold"):
        text = getattr(result, field_name)
        if text and scratch in text:
            setattr(result, field_name, text.replace(scratch, SCRATCH_LABEL))
    return result


def _run_criterion(function: CriterionFunction, context: CheckContext) -> CriterionResult:
    name = criterion_name(function)
    seed_everything()
    started = time.perf_counter()
    try:
        outcome = function(context)
    except CriterionFailed as failure:
        return CriterionResult(name, FAIL, failure.measured, failure.threshold, failure.message,
                               duration_s=time.perf_counter() - started)
    except CriterionSkipped as skipped:
        return CriterionResult(name, SKIP, message=str(skipped), duration_s=time.perf_counter() - started)
    except (Exception, SystemExit, KeyboardInterrupt) as error:
        status, message, where = describe_exception(error, context.workspace)
        return CriterionResult(name, status, message=message, location=where,
                               duration_s=time.perf_counter() - started)
    measured = outcome.measured if isinstance(outcome, Measured) else None
    threshold = outcome.threshold if isinstance(outcome, Measured) else None
    return CriterionResult(name, PASS, measured, threshold, duration_s=time.perf_counter() - started)


def load_check_module(check_file: Path) -> ModuleType:
    """Import a check module from its file under a private name."""
    name = f"ztf_check_{check_file.parent.name}"
    spec = importlib.util.spec_from_file_location(name, check_file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load check module {check_file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def run_check_module(module: ModuleType, context: CheckContext) -> Iterator[tuple[str, CriterionResult | None]]:
    """Yield ("start", None) before and ("done", result) after each criterion of the tier."""
    for function in criteria_of(module, context.tier):
        yield criterion_name(function), None
        yield criterion_name(function), run_criterion(function, context)
