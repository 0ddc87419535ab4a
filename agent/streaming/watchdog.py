"""The stale detector: pure bookkeeping on an injectable monotonic clock.

The loop thread asks it, between waits on the worker's queue, whether the stream is
healthy, slow (show a status) or stale (kill it). Only meaningful deltas count as
progress; keep-alives do not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Clock = Callable[[], float]
Phase = Literal["first_delta", "between_deltas", "total"]

DEFAULT_CLOUD_TIMEOUT = 180.0
DEFAULT_LOCAL_TIMEOUT = 900.0
WAITING_NOTICE_AFTER = 20.0
WAITING_NOTICE_EVERY = 10.0


def default_stale_timeout(is_local: bool, estimated_input_tokens: int) -> float:
    """180 s for cloud endpoints, more for large prompts; 900 s for local servers."""
    if is_local:
        return DEFAULT_LOCAL_TIMEOUT
    if estimated_input_tokens > 100_000:
        return 300.0
    if estimated_input_tokens > 50_000:
        return 240.0
    return DEFAULT_CLOUD_TIMEOUT


@dataclass(frozen=True, slots=True)
class Verdict:
    state: Literal["ok", "waiting", "stale"]
    phase: Phase
    silent_for: float


class StaleWatchdog:
    def __init__(
        self,
        stale_after: float,
        *,
        streaming: bool = True,
        clock: Clock = time.monotonic,
        waiting_after: float = WAITING_NOTICE_AFTER,
        waiting_every: float = WAITING_NOTICE_EVERY,
    ) -> None:
        self.stale_after = stale_after
        self._streaming = streaming
        self._clock = clock
        self._waiting_after = waiting_after
        self._waiting_every = waiting_every
        self._started = clock()
        self._last_progress: float | None = None
        self._next_notice = self._started + waiting_after

    def progress(self) -> None:
        now = self._clock()
        self._last_progress = now
        self._next_notice = now + self._waiting_after

    @property
    def _phase(self) -> Phase:
        if not self._streaming:
            return "total"
        return "first_delta" if self._last_progress is None else "between_deltas"

    def _since(self, now: float) -> float:
        if self._last_progress is None or not self._streaming:
            return now - self._started
        return now - self._last_progress

    def check(self) -> Verdict:
        now = self._clock()
        silent = self._since(now)
        if silent >= self.stale_after:
            return Verdict("stale", self._phase, silent)
        if now >= self._next_notice:
            self._next_notice = now + self._waiting_every
            return Verdict("waiting", self._phase, silent)
        return Verdict("ok", self._phase, silent)

    def seconds_to_next_check(self) -> float:
        """How long the loop may wait before the verdict can change."""
        now = self._clock()
        until_stale = self.stale_after - self._since(now)
        until_notice = self._next_notice - now
        return max(0.0, min(until_stale, until_notice))
