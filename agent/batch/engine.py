"""What an engine is: something that runs tasks somewhere and yields outcomes as they end.

``run_batch`` does the bookkeeping (the task file, resume, the results file, trajectories,
progress); an engine only runs: ``LocalEngine`` in worker processes on this machine,
``RayEngine`` as Ray tasks on a cluster. ``stop`` (safe from a signal handler) means: start
nothing new, interrupt what runs and still yield its (interrupted) outcomes; ``kill``
means: end everything now, yield nothing more.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from agent.batch.job import BatchJob, TaskOutcome
from agent.batch.tasks import Task

TaskStarted = Callable[[Task], None]


class Engine(Protocol):
    """Runs the tasks of a batch; see the module docstring."""

    @property
    def name(self) -> str:
        """A short label for progress lines: "local" or "ray"."""
        ...

    @property
    def stopping(self) -> bool:
        """True once ``stop`` or ``kill`` was called."""
        ...

    def prepare(self) -> None:
        """Optionally start up ahead of ``run`` (the local engine's fork server)."""
        ...

    def run(self, tasks: Sequence[Task], job: BatchJob, started: TaskStarted | None = None) -> Iterator[TaskOutcome]:
        """Run ``tasks``, yielding each outcome as it ends (in no particular order)."""
        ...

    def stop(self) -> None:
        """Start no new task; interrupt the running ones (their outcomes still come)."""
        ...

    def kill(self) -> None:
        """End every running task at once; ``run`` returns without their outcomes."""
        ...


def default_workers(cpus: int | None = None) -> int:
    """Tasks mostly wait on the model, so several per core: 4 per core, 2 to 16."""
    count = cpus if cpus is not None else (os.cpu_count() or 1)
    return max(2, min(16, 4 * count))
