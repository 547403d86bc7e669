"""A trivial checkpoint for bench/latency.py: one criterion, no torch, microseconds of work."""

from __future__ import annotations

from ztf_tutor.checking import Measured, criterion, fail


@criterion("add(2, 3) returns 5")
def add_works(ctx):
    module = ctx.learner("bench_trivial")
    got = module.add(2, 3)
    if got != 5:
        fail(f"add(2, 3) returned {got!r}, expected 5. Look at add() in bench_trivial.py.", measured=got, threshold=5)
    return Measured(f"add(2, 3) = {got}", "= 5")
