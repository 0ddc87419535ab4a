"""The worker process of the local engine: runs exactly one task, then exits.

It talks to the parent over one pipe: the parent may send ``"interrupt"`` (the batch is
stopping: end the turn cleanly, the result says interrupted); the child sends back its
``TaskOutcome``. When the pipe closes under it the parent is gone (``kill -9``), and the
child exits at once: nobody could record its result, so it must not keep working.
Ctrl+C in a terminal reaches the whole process group; the child ignores it and leaves the
decision to the parent, which relays it.
"""

from __future__ import annotations

import os
import signal
import threading
from multiprocessing.connection import Connection

from agent.batch.job import BatchJob
from agent.batch.limiter_server import LimiterClient
from agent.batch.runner import run_task
from agent.batch.tasks import Task

INTERRUPT = "interrupt"
EXIT_PARENT_GONE = 3


def child_main(conn: Connection, task: Task, job: BatchJob, limiter_address: str, authkey: bytes) -> None:
    """The target of a worker process: run ``task``, send its outcome, exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop, finished = threading.Event(), threading.Event()
    lifeline = threading.Thread(target=_listen, args=(conn, stop, finished), name="stayline-batch-lifeline")
    lifeline.daemon = True
    lifeline.start()
    limiter = LimiterClient(limiter_address, authkey)
    try:
        outcome = run_task(task, job, limiter, stop)
    finally:
        limiter.close()
    finished.set()  # from here a closing pipe means the parent has the outcome
    try:
        conn.send(outcome)
    except OSError:
        os._exit(EXIT_PARENT_GONE)


def _listen(conn: Connection, stop: threading.Event, finished: threading.Event) -> None:
    """The lifeline: relay the parent's interrupt; exit when the parent is gone."""
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            if not finished.is_set():
                os._exit(EXIT_PARENT_GONE)
            return
        if message == INTERRUPT:
            stop.set()
