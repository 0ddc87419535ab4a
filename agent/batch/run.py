"""``run_batch``: the tasks, minus those already done, through an engine, into the results file.

    from agent.batch import LocalEngine, run_batch

    for result in run_batch("tasks.jsonl", LocalEngine(workers=8), out="results.jsonl"):
        print(result.id, result.status)

Results come as tasks finish. Each is appended to ``out`` (one atomic write) before it is
yielded, and its history and stream trace go to ``trajectories`` first, so a result in the
file always has its trajectory beside it. Running the same batch again skips every task
whose result is already there (completed, or failed unless ``retry_failed``); interrupted
tasks run again.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agent.batch.engine import Engine
from agent.batch.job import BatchJob, TaskOutcome, TaskResult, workdir_name
from agent.batch.results import ResultsFile, done_ids
from agent.batch.tasks import BadLine, Task, TaskError, parse_task, read_tasks
from agent.config import Settings, settings_from_env


class BatchObserver(Protocol):
    """Hears how a batch goes (the progress display implements it)."""

    def batch_started(self, plan: BatchPlan) -> None:
        """What will run: the tasks, the skipped ids and the bad lines."""
        ...

    def task_started(self, task: Task) -> None:
        """A task was handed to a worker."""
        ...

    def task_finished(self, result: TaskResult) -> None:
        """A task's result was written."""
        ...


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """The tasks this run will do, those it skips as done, and the lines it cannot run."""

    to_run: list[Task]
    skipped: list[Task] = field(default_factory=list)
    bad_lines: list[BadLine] = field(default_factory=list)
    repaired: bool = False  # a cut last line of the results file was dropped

    @property
    def total(self) -> int:
        return len(self.to_run) + len(self.skipped)


def plan_batch(
    tasks: str | Path | Iterable[Task | Mapping[str, Any]], out: str | Path | None, *, retry_failed: bool = False
) -> BatchPlan:
    """Read the task file (or take the tasks: ``Task`` objects or task-line dicts) and
    leave out the ids ``out`` has done. Given tasks must be valid (``TaskError``)."""
    bad: list[BadLine] = []
    if isinstance(tasks, str | Path):
        task_list, bad = read_tasks(tasks)
    else:
        task_list = [t if isinstance(t, Task) else parse_task(dict(t)) for t in tasks]
        counts = Counter(t.key for t in task_list)
        repeated = sorted(key for key, n in counts.items() if n > 1)
        if repeated:
            raise TaskError(f"task ids must be unique; repeated: {', '.join(repeated)}")
    done = done_ids(out, retry_failed=retry_failed) if out is not None else set()
    return BatchPlan([t for t in task_list if t.key not in done], [t for t in task_list if t.key in done], bad)


def run_batch(
    tasks: str | Path | Iterable[Task | Mapping[str, Any]] | BatchPlan,
    engine: Engine | None = None,
    *,
    out: str | Path | None = None,
    settings: Settings | None = None,
    workdirs: str | Path | None = None,
    trajectories: str | Path | None = None,
    max_in_flight: int | None = None,
    retry_failed: bool = False,
    observer: BatchObserver | None = None,
) -> Generator[TaskResult, None, None]:
    """Run a batch and yield each ``TaskResult`` as its task ends.

    ``tasks``: a task file, ``Task`` objects or task-line dicts, or a ready ``BatchPlan``.
    ``engine``: a ``LocalEngine`` (the default) or a ``RayEngine``. ``settings``: the
    defaults of every task (None: from the environment). ``workdirs``: where each task's
    own workdir goes (default: ``OUT.workdirs`` beside the results, else
    ``./stayline-batch.workdirs``). ``max_in_flight``: model requests in flight per
    provider key. Call ``engine.stop()`` (e.g. from a SIGINT handler) to end the batch
    cleanly, resumable.
    """
    if engine is None:
        from agent.batch.local import LocalEngine

        engine = LocalEngine()
    plan = tasks if isinstance(tasks, BatchPlan) else plan_batch(tasks, out, retry_failed=retry_failed)
    job = _job(settings, out, workdirs, trajectories is not None, max_in_flight)
    results = ResultsFile(out) if out is not None else None
    trajectory_dir = _directory(trajectories)
    if observer is not None:
        observer.batch_started(plan if results is None else _with_repair(plan, results.repaired))
    started = observer.task_started if observer is not None else None
    try:
        for outcome in engine.run(plan.to_run, job, started):
            _keep(outcome, trajectory_dir, results)
            result = TaskResult.from_record(outcome.record)
            if observer is not None:
                observer.task_finished(result)
            yield result
    finally:
        if results is not None:
            results.close()


def _job(
    settings: Settings | None,
    out: str | Path | None,
    workdirs: str | Path | None,
    keep_trajectories: bool,
    max_in_flight: int | None,
) -> BatchJob:
    """What every task runs with: the defaults (None: from the environment), where the
    workdirs go, whether to collect histories and traces, the cap on requests in flight."""
    return BatchJob(
        settings if settings is not None else Settings().with_values(**settings_from_env()),
        Path(workdirs).resolve() if workdirs is not None else default_workdirs(out),
        keep_trajectories,
        max_in_flight,
    )


def _keep(outcome: TaskOutcome, trajectory_dir: Path | None, results: ResultsFile | None) -> None:
    """Write a finished task down: its trajectory first, so that a result in the file always
    has its trajectory beside it, then its result line."""
    if trajectory_dir is not None:
        write_trajectory(trajectory_dir, outcome)
    if results is not None:
        results.append(outcome.record)


def default_workdirs(out: str | Path | None) -> Path:
    """``RESULTS.workdirs`` beside the results file (``results.jsonl`` -> ``results.workdirs``)."""
    if out is None:
        return Path("stayline-batch.workdirs").resolve()
    path = Path(out).resolve()
    return path.with_name(path.stem + ".workdirs")


def write_trajectory(directory: Path, outcome: TaskOutcome) -> None:
    """``ID.history.json`` (the whole conversation, system prompt included) and
    ``ID.trace.jsonl`` (the stream trace) of one task."""
    name = workdir_name(outcome.record["id"])
    if outcome.history is not None:
        text = json.dumps(outcome.history, ensure_ascii=False, indent=1)
        (directory / f"{name}.history.json").write_text(text + "\n", encoding="utf-8")
    if outcome.trace is not None:
        (directory / f"{name}.trace.jsonl").write_text(outcome.trace, encoding="utf-8")


def _directory(path: str | Path | None) -> Path | None:
    if path is None:
        return None
    Path(path).mkdir(parents=True, exist_ok=True)
    return Path(path)


def _with_repair(plan: BatchPlan, repaired: bool) -> BatchPlan:
    return BatchPlan(plan.to_run, plan.skipped, plan.bad_lines, repaired) if repaired else plan
