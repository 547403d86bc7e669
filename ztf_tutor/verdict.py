"""Verdicts: what a checkpoint run found, criterion by criterion."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PASS, FAIL, ERROR, SKIP = "pass", "fail", "error", "skip"
STATUSES = (PASS, FAIL, ERROR, SKIP)


@dataclass
class CriterionResult:
    """One criterion's outcome, with the measured value against its threshold."""

    name: str
    status: str
    measured: str | None = None
    threshold: str | None = None
    message: str = ""
    location: str | None = None
    duration_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CriterionResult:
        known = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        return cls(**known)


@dataclass
class CheckResult:
    """A whole checkpoint run. `status` is pass only when every criterion passed or was skipped."""

    lesson: str
    tier: str
    status: str
    duration_s: float
    criteria: list[CriterionResult] = field(default_factory=list)
    message: str = ""
    output: str = ""
    output_bytes: int = 0
    where: str = "local"
    remote: dict[str, Any] | None = None
    """For a remote run: remote name, host, Python, torch, CUDA and GPU names."""
    started_at: float = 0.0
    source_mtimes: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for criterion in self.criteria:
            counts[criterion.status] += 1
        return counts

    def summary(self) -> str:
        """"pass 5/5", "fail 3/5", "error: timed out after 10 s"."""
        counts = self.counts()
        passed = counts[PASS]
        total = len(self.criteria)
        if self.status == ERROR and self.message:
            return f"error: {self.message.splitlines()[0]}"
        return f"{self.status} {passed}/{total}"

    def to_json(self, include_output: bool = False) -> dict[str, Any]:
        data = {
            "lesson": self.lesson,
            "tier": self.tier,
            "status": self.status,
            "duration_s": round(self.duration_s, 3),
            "criteria": [criterion.to_json() for criterion in self.criteria],
            "message": self.message,
            "where": self.where,
            **({"remote": self.remote} if self.remote else {}),
            "started_at": self.started_at,
            "source_mtimes": self.source_mtimes,
            "output_bytes": self.output_bytes,
        }
        if include_output:
            data["output"] = self.output
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            lesson=data["lesson"],
            tier=data.get("tier", "fast"),
            status=data["status"],
            duration_s=float(data.get("duration_s", 0.0)),
            criteria=[CriterionResult.from_json(item) for item in data.get("criteria", [])],
            message=data.get("message", ""),
            output=data.get("output", ""),
            output_bytes=int(data.get("output_bytes", 0)),
            where=data.get("where", "local"),
            remote=data.get("remote"),
            started_at=float(data.get("started_at", 0.0)),
            source_mtimes=dict(data.get("source_mtimes", {})),
        )


def overall_status(criteria: list[CriterionResult]) -> str:
    """Combine criterion statuses.

    The run is an error when nothing could be judged (every criterion errored), a fail when
    any criterion failed or errored, and a skip when the rest passed but some could not run
    here (a missing dataset or GPU): the checkpoint is not passed until every criterion ran.
    """
    statuses = [criterion.status for criterion in criteria]
    if not statuses or all(status == ERROR for status in statuses):
        return ERROR
    if FAIL in statuses or ERROR in statuses:
        return FAIL
    if SKIP in statuses:
        return SKIP
    return PASS


@dataclass
class EventSummary:
    """The facts a child's event stream reports about a run, before any judgement of how it ended."""

    order: list[str] = field(default_factory=list)
    results: dict[str, CriterionResult] = field(default_factory=dict)
    running: str | None = None
    finished: bool = False
    broken: str | None = None
    exit_call: str | None = None


def summarize_events(events: list[dict[str, Any]]) -> EventSummary:
    """Read the child's events (begin, start, criterion, done, check_broken, exit_called)."""
    summary = EventSummary()
    for event in events:
        kind = event.get("event")
        if kind == "begin":
            summary.order = list(event.get("criteria", []))
        elif kind == "start":
            summary.running = event.get("name")
        elif kind == "criterion":
            result = CriterionResult.from_json(event["result"])
            summary.results[result.name] = result
            summary.running = None
        elif kind == "done":
            summary.finished = True
        elif kind == "check_broken":
            summary.broken = ("the check itself failed to load; this is a bug in ztf, not in your code.\n"
                              + event.get("traceback", ""))
        elif kind == "exit_called" and summary.exit_call is None:
            where = f" at {event['location']}" if event.get("location") else ""
            summary.exit_call = (f"learner code called os._exit({event.get('code')}){where}, which ended the check "
                                 "before it finished. Remove that call.")
    return summary


def judge_criteria(summary: EventSummary, problem: str | None) -> tuple[list[CriterionResult], str | None]:
    """List every criterion in order, marking those a problem stopped, and return the final problem."""
    if not summary.order and not problem:
        problem = "the check ended before it started any criterion."
    criteria = []
    for name in summary.order:
        if name in summary.results:
            criteria.append(summary.results[name])
        elif name == summary.running:
            criteria.append(CriterionResult(name, ERROR, message=f"{problem} (while running this criterion)"))
        else:
            criteria.append(CriterionResult(name, ERROR, message="not run: the check stopped before it reached this criterion."))
    return criteria, problem
