"""Ctrl+C during a turn: the first press asks the agent to stop, the second quits.

Python's default SIGINT handling raises ``KeyboardInterrupt`` wherever the main thread
happens to be, which tears the turn's generator down before it can finish cleanly
(keep the partial answer, give every tool call its result). So while a turn runs, a
handler takes SIGINT instead.

The handler itself does almost nothing: ``AIAgent.interrupt`` takes locks
(``threading.Event``, the workers' queues) that the interrupted main thread may be
holding at that very instant, and calling it from the handler could deadlock. The
handler writes one byte to a pipe; a relay thread reads it and calls the callback
from outside the signal context. A second press raises ``KeyboardInterrupt`` so the
caller can exit 130 at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any


class InterruptGuard:
    """Context manager routing SIGINT to ``on_interrupt`` (run on a relay thread)."""

    def __init__(self, on_interrupt: Callable[[], None]) -> None:
        self._on_interrupt = on_interrupt
        self._previous: Any = None
        self._pipe: tuple[int, int] | None = None
        self._relay: threading.Thread | None = None
        self.presses = 0

    @property
    def pressed(self) -> bool:
        return self.presses > 0

    def __enter__(self) -> InterruptGuard:
        # Signal handlers can only be installed from the main thread; elsewhere (an
        # embedding app, a test runner thread) SIGINT never reaches us anyway.
        if threading.current_thread() is not threading.main_thread():
            return self
        read_fd, write_fd = os.pipe()
        self._pipe = (read_fd, write_fd)
        self._relay = threading.Thread(target=self._run_relay, args=(read_fd,), name="stayline-sigint", daemon=True)
        self._relay.start()
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pipe is None:
            return
        signal.signal(signal.SIGINT, self._previous)
        read_fd, write_fd = self._pipe
        self._pipe = None
        os.close(write_fd)  # EOF ends the relay thread
        if self._relay is not None:
            self._relay.join(1.0)
        os.close(read_fd)

    def trigger(self) -> None:
        """What a Ctrl+C does; also the test hook."""
        self._handle(signal.SIGINT, None)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.presses += 1
        if self.presses > 1:
            raise KeyboardInterrupt
        if self._pipe is None:
            self._on_interrupt()  # no relay (not the main thread): nothing to deadlock with
            return
        with contextlib.suppress(OSError):
            os.write(self._pipe[1], b"i")

    def _run_relay(self, read_fd: int) -> None:
        while True:
            try:
                data = os.read(read_fd, 1)
            except OSError:
                return
            if not data:
                return
            self._on_interrupt()
