"""The local engine: up to N worker processes on this machine, one task at a time each.

Every task runs in a worker process, never beside another task in the same process, with
its own agent, connections and workdir. Processes come from a fork server that has the
agent and both SDKs loaded already, and each runs up to ``tasks_per_worker`` tasks one
after another before it is replaced (``tasks_per_worker=1``: a fresh process per task).
The parent keeps the rate limiter (``LimiterServer``) and is the only writer of results.
A worker that dies yields a ``worker_lost`` result for its task and is replaced; when
the parent dies the workers notice their pipe closing and exit (see ``child.py``).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from typing import Any

from agent.batch import causes
from agent.batch.child import EXIT, INTERRUPT, TASK, worker_main
from agent.batch.engine import TaskStarted, default_workers
from agent.batch.job import BatchJob, TaskOutcome
from agent.batch.limiter import RateLimiter
from agent.batch.limiter_server import LimiterServer
from agent.batch.runner import failure_outcome
from agent.batch.tasks import Task

# Imported once in the fork server, so each worker starts with them loaded.
PRELOAD = ["__main__", "agent.batch.child", "agent.agent", "openai", "anthropic", "agent.batch.warmup"]
DEFAULT_TASKS_PER_WORKER = 25
WAIT_SLICE = 1.0
EXIT_WAIT = 5.0  # how long a worker that was told to exit (or died) gets to be gone


@dataclass(slots=True)
class _Worker:
    process: Any  # multiprocessing's process type depends on the start method
    conn: Connection
    task: Task | None = None
    started: float = 0.0
    started_at: str = ""
    done: int = 0


def _context() -> BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


class LocalEngine:
    """Runs tasks in up to ``workers`` processes on this machine (default: ``default_workers()``);
    a process runs at most ``tasks_per_worker`` tasks, one at a time, before it is replaced."""

    name = "local"

    def __init__(self, workers: int | None = None, *, tasks_per_worker: int = DEFAULT_TASKS_PER_WORKER) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        if tasks_per_worker < 1:
            raise ValueError(f"tasks_per_worker must be at least 1, not {tasks_per_worker}")
        self.workers = workers or default_workers()
        self.tasks_per_worker = tasks_per_worker
        self._stop = False
        self._kill = False
        self._wake: tuple[int, int] | None = None

    @property
    def stopping(self) -> bool:
        return self._stop or self._kill

    def prepare(self) -> None:
        """Start the fork server now, so it imports the agent and the SDKs while the caller
        does other work (optional: ``run`` starts it anyway)."""
        if _context().get_start_method() == "forkserver":
            from multiprocessing import forkserver

            forkserver.ensure_running()

    def stop(self) -> None:
        """Start nothing new and interrupt the running tasks (safe in a signal handler)."""
        self._stop = True
        self._poke()

    def kill(self) -> None:
        """Kill every worker now (safe in a signal handler)."""
        self._kill = True
        self._poke()

    def _poke(self) -> None:
        if self._wake is not None:
            with suppress(OSError):
                os.write(self._wake[1], b"!")

    def run(self, tasks: Sequence[Task], job: BatchJob, started: TaskStarted | None = None) -> Iterator[TaskOutcome]:
        """Run ``tasks``; outcomes come as the tasks end."""
        context = _context()
        server = LimiterServer(RateLimiter(job.max_in_flight))
        self._wake = os.pipe()
        os.set_blocking(self._wake[0], False)
        pending = deque(tasks)
        workers: list[_Worker] = []
        relayed = False
        try:
            while (pending and not self.stopping) or any(w.task is not None for w in workers):
                if self._kill:
                    return
                self._hand_out(pending, workers, context, job, server, started)
                if self._stop and not relayed:
                    relayed = True
                    for worker in workers:
                        if worker.task is not None:
                            _send(worker, INTERRUPT)
                yield from self._collect(workers)
        finally:
            self._shut_down(workers)
            server.close()
            for fd in self._wake:
                os.close(fd)
            self._wake = None

    def _hand_out(
        self,
        pending: deque[Task],
        workers: list[_Worker],
        context: BaseContext,
        job: BatchJob,
        server: LimiterServer,
        started: TaskStarted | None,
    ) -> None:
        """Give the next tasks to idle workers, starting workers up to the limit."""
        while pending and not self.stopping:
            worker = next((w for w in workers if w.task is None), None)
            if worker is None:
                if len(workers) >= self.workers:
                    return
                worker = self._start(context, job, server)
                workers.append(worker)
            task = pending.popleft()
            worker.task, worker.started = task, time.monotonic()
            worker.started_at = datetime.now(UTC).isoformat(timespec="milliseconds")
            if not _send(worker, (TASK, task)):
                continue  # it died meanwhile: _collect reports the task as lost
            if started is not None:
                started(task)

    @staticmethod
    def _start(context: BaseContext, job: BatchJob, server: LimiterServer) -> _Worker:
        parent_end, child_end = context.Pipe()
        process = context.Process(  # type: ignore[attr-defined]
            target=worker_main,
            args=(child_end, job, server.address, server.authkey),
            name="stayline-batch-worker",
            daemon=True,
        )
        process.start()
        child_end.close()
        return _Worker(process, parent_end)

    def _collect(self, workers: list[_Worker]) -> Iterator[TaskOutcome]:
        """Wait a little for outcomes or dead workers; yield what ended."""
        assert self._wake is not None
        handles: list[Any] = [self._wake[0]]
        for worker in workers:
            handles += [worker.conn, worker.process.sentinel]
        ready = set(wait(handles, WAIT_SLICE))
        if self._wake[0] in ready:
            with suppress(OSError):
                os.read(self._wake[0], 1024)
        for worker in list(workers):
            if worker.conn not in ready and worker.process.sentinel not in ready:
                continue
            outcome = _receive(worker)
            if outcome is not None:
                worker.task, worker.done = None, worker.done + 1
                if worker.done >= self.tasks_per_worker:
                    self._retire(worker, workers)
                yield outcome
                continue
            workers.remove(worker)  # died, with or without a task
            worker.process.join(EXIT_WAIT)
            worker.conn.close()
            if worker.task is not None:
                yield _lost(worker)

    @staticmethod
    def _retire(worker: _Worker, workers: list[_Worker]) -> None:
        workers.remove(worker)
        _send(worker, EXIT)
        worker.conn.close()  # it exits on its own; the fork server reaps it

    @staticmethod
    def _shut_down(workers: list[_Worker]) -> None:
        for worker in workers:
            if worker.task is None:
                _send(worker, EXIT)
            else:  # killed, or the consumer stopped early
                worker.process.kill()
        for worker in workers:
            worker.process.join(EXIT_WAIT)
            if worker.process.is_alive():
                worker.process.kill()
            worker.conn.close()


def _send(worker: _Worker, message: object) -> bool:
    try:
        worker.conn.send(message)
    except OSError:
        return False
    return True


def _receive(worker: _Worker) -> TaskOutcome | None:
    """The worker's outcome, if one is there (None: it died, or was idle and exited)."""
    try:
        if worker.task is not None and worker.conn.poll(0):
            outcome: TaskOutcome = worker.conn.recv()
            return outcome
    except (EOFError, OSError):
        pass
    return None


def _lost(worker: _Worker) -> TaskOutcome:
    assert worker.task is not None
    code = worker.process.exitcode
    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
    error = (
        f"the worker process running this task died ({how}) before it could report; "
        "the files it wrote are in its workdir, its result is lost. Rerun with --retry-failed to run it again."
    )
    return failure_outcome(worker.task, causes.WORKER_LOST, error, worker.started, worker.started_at)
