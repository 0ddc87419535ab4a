"""How a batch shows its progress: a rich bar on a terminal, one line per task otherwise.

Both are ``BatchObserver``s writing to stderr. Error texts come from the model, the tools
or the network: they are flattened to one line without control characters before they
are shown.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, TextIO

from agent.batch.job import TaskResult
from agent.batch.run import BatchPlan
from agent.batch.tasks import Task
from agent.cli.render import one_line

_MARK = {"completed": "✓", "failed": "✗", "interrupted": "■"}


@dataclass(slots=True)
class _Counts:
    total: int = 0
    done: int = 0
    failed: int = 0
    interrupted: int = 0
    running: int = 0


def plan_lines(plan: BatchPlan) -> list[str]:
    """What the batch is about to do, and every bad line."""
    lines = [
        f"batch: {len(plan.to_run)} tasks to run" + (f", {len(plan.skipped)} already done" if plan.skipped else "")
    ]
    if plan.repaired:
        lines.append(
            "batch: the results file ended in a cut line (a killed run); it was dropped and its task runs again"
        )
    lines += [f"batch: bad task {one_line(bad.describe(), 300)}" for bad in plan.bad_lines]
    return lines


def result_line(result: TaskResult, counts: _Counts) -> str:
    """``[12/200] ✓ t-7 completed in 3.2 s, 4 model calls`` (and the error of a failure)."""
    record = result.record
    calls = record.get("api_calls", 0)
    line = (
        f"[{counts.done}/{counts.total}] {_MARK.get(result.status, '?')} {one_line(str(result.id), 60)} "
        f"{result.status} in {record.get('wall_time', 0):.1f} s, {calls} model call{'' if calls == 1 else 's'}"
    )
    if result.status != "completed":
        line += f" ({record.get('cause') or 'other'}): {one_line(result.error or '', 160)}"
    return line


class PlainProgress:
    """One line per finished task on ``err`` (for logs and pipes)."""

    def __init__(self, err: TextIO) -> None:
        self._err = err
        self.counts = _Counts()

    def batch_started(self, plan: BatchPlan) -> None:
        self.counts.total = len(plan.to_run)
        for line in plan_lines(plan):
            self._say(line)

    def task_started(self, task: Task) -> None:
        self.counts.running += 1

    def task_finished(self, result: TaskResult) -> None:
        _count(self.counts, result)
        self._say(result_line(result, self.counts))

    def note(self, text: str) -> None:
        """A line of its own (e.g. "stopping...")."""
        self._say(text)

    def close(self) -> None:
        """Nothing to tear down."""

    def _say(self, line: str) -> None:
        self._err.write(line + "\n")
        self._err.flush()


class RichProgress:
    """A live bar on a terminal: done / failed / running and the time left; failures are
    printed above it as they happen."""

    def __init__(self, err: TextIO) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.counts = _Counts()
        self._console = Console(file=err, highlight=False)
        self._progress = Progress(
            TextColumn("batch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[state]}"),
            TimeRemainingColumn(),
            console=self._console,
            transient=False,
        )
        self._bar: Any = None
        self._started = time.monotonic()

    def batch_started(self, plan: BatchPlan) -> None:
        self.counts.total = len(plan.to_run)
        for line in plan_lines(plan):
            self._console.print(line, markup=False)
        self._bar = self._progress.add_task("batch", total=self.counts.total, state=_state(self.counts))
        self._progress.start()

    def task_started(self, task: Task) -> None:
        self.counts.running += 1
        self._update()

    def task_finished(self, result: TaskResult) -> None:
        _count(self.counts, result)
        if result.status != "completed":
            self._progress.console.print(result_line(result, self.counts), markup=False)
        self._update()

    def note(self, text: str) -> None:
        """A line above the bar."""
        self._progress.console.print(text, markup=False)

    def close(self) -> None:
        """Stop the live display (the last state of the bar stays on screen)."""
        self._progress.stop()

    def _update(self) -> None:
        if self._bar is not None:
            self._progress.update(self._bar, completed=self.counts.done, state=_state(self.counts))


def _state(counts: _Counts) -> str:
    """``failed 2 · running 8`` (and the interrupted ones once there are some)."""
    interrupted = f" · interrupted {counts.interrupted}" if counts.interrupted else ""
    return f"failed {counts.failed}{interrupted} · running {counts.running}"


def _count(counts: _Counts, result: TaskResult) -> None:
    counts.done += 1
    counts.running = max(0, counts.running - 1)
    if result.status == "failed":
        counts.failed += 1
    elif result.status == "interrupted":
        counts.interrupted += 1
