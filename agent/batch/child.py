"""A worker process of the local engine: runs the tasks it is given, one at a time.

Each task gets its own agent and workdir (``run_task``); the process only saves the
start-up of a new interpreter state per task, and the parent replaces it after a number
of tasks anyway. One pipe to the parent carries, downwards, ``("task", Task)``,
``"interrupt"`` (the batch is stopping: end the running turn cleanly, its result says
interrupted) and ``"exit"``; upwards, one ``TaskOutcome`` per task. When the pipe closes
under the worker the parent is gone (``kill -9``) and the worker exits at once: nobody
could record its result, so it must not keep working. Ctrl+C in a terminal reaches the
whole process group; workers ignore it and leave the decision to the parent.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
from multiprocessing.connection import Connection

from agent.batch.job import BatchJob
from agent.batch.limiter_server import LimiterClient
from agent.batch.runner import run_task
from agent.batch.tasks import Task

INTERRUPT = "interrupt"
EXIT = "exit"
TASK = "task"
EXIT_PARENT_GONE = 3


def worker_main(conn: Connection, job: BatchJob, limiter_address: str, authkey: bytes) -> None:
    """The target of a worker process: run tasks until told to exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = threading.Event()
    inbox: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
    lifeline = threading.Thread(target=_listen, args=(conn, stop, inbox), name="stayline-batch-lifeline")
    lifeline.daemon = True
    lifeline.start()
    limiter = LimiterClient(limiter_address, authkey)
    try:
        while (task := inbox.get()) is not None:
            outcome = run_task(task, job, limiter, stop)
            try:
                conn.send(outcome)
            except OSError:
                os._exit(EXIT_PARENT_GONE)
    finally:
        limiter.close()


def _listen(conn: Connection, stop: threading.Event, inbox: queue.SimpleQueue[Task | None]) -> None:
    """The lifeline: hand tasks over, relay the interrupt, exit when the parent is gone."""
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            os._exit(EXIT_PARENT_GONE)
        if message == INTERRUPT:
            stop.set()
        elif message == EXIT:
            inbox.put(None)
            return
        elif isinstance(message, tuple) and message[0] == TASK:
            inbox.put(message[1])
