"""Batch runs: many tasks, each with its own agent and workdir, locally or on Ray.

    from agent.batch import LocalEngine, RayEngine, run_batch

    for result in run_batch("tasks.jsonl", LocalEngine(workers=8), out="results.jsonl"):
        print(result.id, result.status)

``stayline batch TASKS.jsonl --out RESULTS.jsonl`` is the same from the command line.
Importing this package imports neither Ray nor an SDK; ``RayEngine`` imports Ray when it
runs.
"""

from agent.batch.engine import Engine, default_workers
from agent.batch.job import BatchJob, TaskOutcome, TaskResult
from agent.batch.limiter import RateLimiter
from agent.batch.local import LocalEngine
from agent.batch.ray_engine import RayEngine, RayNotInstalled
from agent.batch.run import BatchObserver, BatchPlan, plan_batch, run_batch
from agent.batch.tasks import BadLine, Task, TaskError, parse_task, read_tasks

__all__ = [
    "BadLine",
    "BatchJob",
    "BatchObserver",
    "BatchPlan",
    "Engine",
    "LocalEngine",
    "RateLimiter",
    "RayEngine",
    "RayNotInstalled",
    "Task",
    "TaskError",
    "TaskOutcome",
    "TaskResult",
    "default_workers",
    "parse_task",
    "plan_batch",
    "read_tasks",
    "run_batch",
]
