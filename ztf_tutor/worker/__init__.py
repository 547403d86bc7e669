"""A warm check worker per workspace: torch imported once, a fresh forked child per run.

`ztf_tutor.worker.server` is the worker process; `ztf_tutor.worker.client` starts it and
forks children from it. Importing this package imports neither torch nor the server.
"""

from .client import (
    WarmChild,
    WarmWorker,
    WorkerUnavailable,
    prewarm,
    start_warm_child,
    stop_worker,
    stop_workers,
    worker_for,
)

__all__ = ["WarmChild", "WarmWorker", "WorkerUnavailable", "prewarm", "start_warm_child", "stop_worker", "stop_workers", "worker_for"]
