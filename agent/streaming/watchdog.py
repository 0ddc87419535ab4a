"""The stale detector: pure bookkeeping on an injectable monotonic clock.

Two limits: the time to the first byte of progress (a reasoning model may think for
minutes, a local server may spend minutes on a long prompt's prefill) and the gap
between progress events once the reply flows, which stays tight. Only meaningful
deltas count as progress; keep-alives prove the socket lives, not that the model
speaks, and are only counted so a stall can say "only keep-alives for N s".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Clock = Callable[[], float]
Phase = Literal["first_delta", "between_deltas", "total"]

CLOUD_GAP = 180.0
LOCAL_GAP = 300.0  # a CPU-bound local model can pause between tokens under load
LOCAL_FIRST_TOKEN = 900.0  # a local server's prefill of a long prompt
REASONING_FIRST_TOKEN = 600.0  # a reasoning model thinks before its first visible byte
WAITING_NOTICE_AFTER = 20.0
WAITING_NOTICE_EVERY = 10.0


@dataclass(frozen=True, slots=True)
class StallLimits:
    """Seconds of silence that count as a stall: before the first progress, and after it."""

    first_token: float
    gap: float

    @classmethod
    def both(cls, seconds: float) -> StallLimits:
        return cls(seconds, seconds)


def default_stall_limits(*, is_local: bool, reasoning: bool, estimated_input_tokens: int) -> StallLimits:
    """The limits when the user set none: 180 s for cloud endpoints (more before the first
    token for large prompts and reasoning models); local servers get a long first-token
    limit for the prefill and a gap that still catches a hung server."""
    if is_local:
        return StallLimits(LOCAL_FIRST_TOKEN, LOCAL_GAP)
    first = CLOUD_GAP
    if estimated_input_tokens > 100_000:
        first = 300.0
    elif estimated_input_tokens > 50_000:
        first = 240.0
    if reasoning:
        first = max(first, REASONING_FIRST_TOKEN)
    return StallLimits(first, CLOUD_GAP)


@dataclass(frozen=True, slots=True)
class Verdict:
    state: Literal["ok", "waiting", "stale"]
    phase: Phase
    silent_for: float
    keepalives: int = 0  # keep-alives that arrived during this silence


class StaleWatchdog:
    def __init__(
        self,
        limits: StallLimits | float,
        *,
        streaming: bool = True,
        clock: Clock = time.monotonic,
        waiting_after: float = WAITING_NOTICE_AFTER,
        waiting_every: float = WAITING_NOTICE_EVERY,
    ) -> None:
        self.limits = limits if isinstance(limits, StallLimits) else StallLimits.both(limits)
        self._streaming = streaming
        self._clock = clock
        self._waiting_after = waiting_after
        self._waiting_every = waiting_every
        self._started = clock()
        self._last_progress: float | None = None
        self._next_notice = self._started + waiting_after
        self._keepalives = 0

    def progress(self) -> None:
        now = self._clock()
        self._last_progress = now
        self._next_notice = now + self._waiting_after
        self._keepalives = 0

    def keepalive(self) -> None:
        self._keepalives += 1

    @property
    def _phase(self) -> Phase:
        if not self._streaming:
            return "total"
        return "first_delta" if self._last_progress is None else "between_deltas"

    @property
    def stale_after(self) -> float:
        """The limit that applies now: the first-token limit until progress, then the gap."""
        return self.limits.gap if self._phase == "between_deltas" else self.limits.first_token

    def _since(self, now: float) -> float:
        if self._last_progress is None or not self._streaming:
            return now - self._started
        return now - self._last_progress

    def check(self) -> Verdict:
        now = self._clock()
        silent = self._since(now)
        if silent >= self.stale_after:
            return Verdict("stale", self._phase, silent, self._keepalives)
        if now >= self._next_notice:
            self._next_notice = now + self._waiting_every
            return Verdict("waiting", self._phase, silent, self._keepalives)
        return Verdict("ok", self._phase, silent, self._keepalives)

    def seconds_to_next_check(self) -> float:
        """How long the loop may wait before the verdict can change."""
        now = self._clock()
        until_stale = self.stale_after - self._since(now)
        until_notice = self._next_notice - now
        return max(0.0, min(until_stale, until_notice))
