"""Runs one provider stream in a worker thread and hands its deltas to a queue, so
the loop thread stays free to watch the clock and the user's interrupt."""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from agent.providers.base import ProviderStream
from agent.providers.deltas import Delta


@dataclass(frozen=True, slots=True)
class Finished:
    """The provider's iterator ended (whether its terminal event came is the accumulator's call)."""


@dataclass(frozen=True, slots=True)
class Failed:
    error: BaseException


@dataclass(frozen=True, slots=True)
class Wake:
    """Put by another thread (an interrupt) to end the loop thread's wait at once."""


WorkerItem = Delta | Finished | Failed | Wake
_names = itertools.count(1)


class StreamWorker:
    def __init__(self, open_stream: Callable[[], ProviderStream]) -> None:
        self.queue: queue.SimpleQueue[WorkerItem] = queue.SimpleQueue()
        self._open = open_stream
        self._abandoned = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stayline-stream-{next(_names)}", daemon=True)

    def start(self) -> StreamWorker:
        self._thread.start()
        return self

    def _run(self) -> None:
        put = self.queue.put
        stream: ProviderStream | None = None
        try:
            stream = self._open()
            for delta in stream:
                if self._abandoned.is_set():
                    break
                put(delta)
            put(Finished())
        except BaseException as exc:  # handed to the loop thread, which decides what it means
            put(Failed(exc))
        finally:
            if stream is not None:
                stream.close()  # the owner closes; the watchdog only shuts sockets down

    def wake(self) -> None:
        self.queue.put(Wake())

    def abandon(self, join_timeout: float = 2.0) -> bool:
        """Stop caring about this stream; True when the thread has ended."""
        self._abandoned.set()
        self._thread.join(join_timeout)
        return not self._thread.is_alive()

    @property
    def abandoned(self) -> bool:
        return self._abandoned.is_set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
