"""`ztf journal plot`: a PNG with time on task per lesson and attempts and passes per day.

Uses matplotlib's object API with the Agg canvas and never pyplot, so it draws without a display
and leaves the process's global matplotlib state alone (the TUI may call it from a worker thread).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from .review import JournalOverview


def _day(stamp: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(stamp))


def plot_overview(overview: JournalOverview, path: Path) -> Path:
    """Draw both charts into one PNG at `path` and return it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(10, 7.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    time_axes, day_axes = figure.subplots(2, 1)

    labels = [lesson.lesson for lesson in overview.lessons]
    minutes = [lesson.time_on_task_s / 60 for lesson in overview.lessons]
    time_axes.bar(labels, minutes, color="#4c72b0")
    if len(labels) > 12:
        time_axes.tick_params(axis="x", labelrotation=90, labelsize=8)
    time_axes.set_title("Active time per lesson")
    time_axes.set_xlabel("lesson")
    time_axes.set_ylabel("minutes")

    attempts: Counter[str] = Counter()
    passes: Counter[str] = Counter()
    for lesson in overview.lessons:
        for attempt in lesson.attempts:
            attempts[_day(attempt.started_at)] += 1
            passes[_day(attempt.started_at)] += attempt.status == "pass"
    days = sorted(attempts)
    positions = range(len(days))
    width = 0.4
    day_axes.bar([x - width / 2 for x in positions], [attempts[day] for day in days], width, label="attempts", color="#8c8c8c")
    day_axes.bar([x + width / 2 for x in positions], [passes[day] for day in days], width, label="passes", color="#55a868")
    day_axes.set_xticks(list(positions), days, rotation=45, ha="right")
    day_axes.set_title("Attempts and passes per day")
    day_axes.set_ylabel("count")
    day_axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    day_axes.legend()
    if not days:
        day_axes.text(0.5, 0.5, "no attempts yet", ha="center", va="center", transform=day_axes.transAxes)

    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
