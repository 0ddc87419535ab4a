"""The local engine: every task in a worker process of its own, N at a time.

Processes come from a fork server that has the agent and both SDKs imported already, so
a task starts in milliseconds while staying isolated: its own interpreter state, its own
agent, its own connections. The parent keeps the rate limiter (``LimiterServer``) and
is the only writer of results. A worker that dies yields a ``worker_lost`` result; when
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
from agent.batch.child import INTERRUPT, child_main
from agent.batch.engine import TaskStarted, default_workers
from agent.batch.job import BatchJob, TaskOutcome
from agent.batch.limiter import RateLimiter
from agent.batch.limiter_server import LimiterServer
from agent.batch.runner import failure_outcome
from agent.batch.tasks import Task

# Imported once in the fork server, so each worker starts with them loaded.
PRELOAD = ["__main__", "agent.batch.child", "agent.agent", "openai", "anthropic", "agent.batch.warmup"]
WAIT_SLICE = 1.0
EXIT_WAIT = 5.0  # how long a worker that sent nothing gets to finish dying


@dataclass(slots=True)
class _Running:
    task: Task
    process: Any  # multiprocessing's process type depends on the start method
    conn: Connection
    started: float
    started_at: str


def _context() -> BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


class LocalEngine:
    """Runs tasks in up to ``workers`` processes on this machine (default: ``default_workers()``)."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.workers = workers or default_workers()
        self._stop = False
        self._kill = False
        self._wake: tuple[int, int] | None = None
        self._exiting: list[Any] = []  # workers that reported and are on their way out

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
        running: list[_Running] = []
        relayed = False
        try:
            while (pending and not self.stopping) or running:
                if self._kill:
                    return
                while pending and not self.stopping and len(running) < self.workers:
                    running.append(self._start(context, pending.popleft(), job, server))
                    if started is not None:
                        started(running[-1].task)
                if self._stop and not relayed:
                    relayed = True
                    for entry in running:
                        with suppress(OSError):
                            entry.conn.send(INTERRUPT)
                yield from self._collect(running)
                self._exiting = [process for process in self._exiting if process.is_alive()]
        finally:
            for entry in running:  # killed, or the consumer stopped early
                entry.process.kill()
                entry.process.join(EXIT_WAIT)
                entry.conn.close()
            for process in self._exiting:
                process.join(EXIT_WAIT)
                if process.is_alive():
                    process.kill()
            self._exiting = []
            server.close()
            for fd in self._wake:
                os.close(fd)
            self._wake = None

    def _start(self, context: BaseContext, task: Task, job: BatchJob, server: LimiterServer) -> _Running:
        parent_end, child_end = context.Pipe()
        process = context.Process(  # type: ignore[attr-defined]
            target=child_main,
            args=(child_end, task, job, server.address, server.authkey),
            name=f"stayline-batch-{task.key}"[:64],
            daemon=True,
        )
        process.start()
        child_end.close()
        return _Running(
            task, process, parent_end, time.monotonic(), datetime.now(UTC).isoformat(timespec="milliseconds")
        )

    def _collect(self, running: list[_Running]) -> Iterator[TaskOutcome]:
        """Wait a little for outcomes or dead workers; yield what ended."""
        assert self._wake is not None
        handles: list[Any] = [self._wake[0]]
        for entry in running:
            handles += [entry.conn, entry.process.sentinel]
        ready = set(wait(handles, WAIT_SLICE))
        if self._wake[0] in ready:
            with suppress(OSError):
                os.read(self._wake[0], 1024)
        for entry in list(running):
            if entry.conn not in ready and entry.process.sentinel not in ready:
                continue
            outcome = self._outcome_of(entry)
            running.remove(entry)
            entry.conn.close()
            yield outcome

    def _outcome_of(self, entry: _Running) -> TaskOutcome:
        try:
            if entry.conn.poll(0):
                outcome: TaskOutcome = entry.conn.recv()
                self._exiting.append(entry.process)  # its slot is free; reaped later
                return outcome
        except (EOFError, OSError):
            pass
        entry.process.join(EXIT_WAIT)
        code = entry.process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        error = (
            f"the worker process running this task died ({how}) before it could report; "
            "the files it wrote are in its workdir, its result is lost. Rerun with --retry-failed to run it again."
        )
        return failure_outcome(entry.task, causes.WORKER_LOST, error, entry.started, entry.started_at)
