"""Small text helpers shared by the widgets."""

from __future__ import annotations


def duration(seconds: float) -> str:
    """Seconds as "42 s", "12 min" or "3 h 05 min"."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"
