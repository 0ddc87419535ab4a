"""The shared rate limiter of a batch: request slots per provider key and shared pauses.

Every worker of a batch asks the same ``RateLimiter`` for a slot before it sends a model
request and gives it back when the response stream is closed. When one worker is told to
back off (a 429 or 529 with ``retry-after``), the limiter pauses every worker of that key
for that long, so N workers do not turn one 429 into N.

The limiter lives in one place (the batch's parent process, or a Ray actor); workers talk
to it through a ``LimiterHandle``. A handle's ``acquire`` waits at most ``timeout`` seconds
and returns None when no slot came free, so a waiting worker can notice cancellation and a
remote limiter never holds a call open for long. Leases belong to an owner (the task id):
``release_owner`` frees whatever a lost worker held.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

Clock = Callable[[], float]
MAX_SHARED_PAUSE = 600.0  # a bogus retry-after must not freeze a batch for hours


class LimiterHandle(Protocol):
    """What a worker needs of the limiter; local, over a socket or through a Ray actor."""

    def acquire(self, key: str, owner: str, timeout: float) -> int | None:
        """A lease id once a slot of ``key`` is free and no pause is on; None after ``timeout``."""
        ...

    def release(self, lease: int) -> None:
        """Give a slot back (unknown or already released leases are ignored)."""
        ...

    def pause(self, key: str, seconds: float) -> None:
        """No new request of ``key`` starts for ``seconds`` (extends, never shortens, a pause)."""
        ...

    def release_owner(self, owner: str) -> int:
        """Free every slot ``owner`` still holds; returns how many."""
        ...


@dataclass(slots=True)
class _KeyState:
    in_flight: int = 0
    paused_until: float = 0.0
    pauses: int = 0


@dataclass(frozen=True, slots=True)
class KeyStats:
    """What the limiter knows about one key, for progress lines and tests."""

    in_flight: int
    paused_for: float
    pauses: int


@dataclass(slots=True)
class _Lease:
    key: str
    owner: str


@dataclass(slots=True)
class RateLimiter:
    """The limiter itself: thread-safe, all times on its own monotonic ``clock``.

    ``max_in_flight`` caps concurrent requests per key (None: no cap, pauses only).
    """

    max_in_flight: int | None = None
    clock: Clock = time.monotonic
    max_pause: float = MAX_SHARED_PAUSE
    _keys: dict[str, _KeyState] = field(default_factory=dict)
    _leases: dict[int, _Lease] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def acquire(self, key: str, owner: str, timeout: float) -> int | None:
        """A lease id for a slot of ``key``; None when none came free within ``timeout``."""
        deadline = self.clock() + max(0.0, timeout)
        with self._changed:
            state = self._keys.setdefault(key, _KeyState())
            while True:
                now = self.clock()
                wait = self._blocked_for(state, now)
                if wait == 0.0:
                    state.in_flight += 1
                    lease = next(self._ids)
                    self._leases[lease] = _Lease(key, owner)
                    return lease
                if now >= deadline:
                    return None
                self._changed.wait(min(wait, deadline - now))

    def _blocked_for(self, state: _KeyState, now: float) -> float:
        """0 when a request may start now; else how long to wait before looking again."""
        if state.paused_until > now:
            return state.paused_until - now
        if self.max_in_flight is not None and state.in_flight >= self.max_in_flight:
            return 1.0  # until a release notifies
        return 0.0

    def release(self, lease: int) -> None:
        """Give a slot back; unknown or already released leases are ignored."""
        with self._changed:
            held = self._leases.pop(lease, None)
            if held is not None:
                self._keys[held.key].in_flight -= 1
                self._changed.notify_all()

    def pause(self, key: str, seconds: float) -> None:
        """Hold every new request of ``key`` for ``seconds`` (capped at ``max_pause``)."""
        seconds = min(max(0.0, seconds), self.max_pause)
        with self._changed:
            state = self._keys.setdefault(key, _KeyState())
            until = self.clock() + seconds
            if until > state.paused_until:
                state.paused_until = until
                state.pauses += 1

    def release_owner(self, owner: str) -> int:
        """Free the slots ``owner`` still holds (a lost worker's, or a retried task's)."""
        with self._changed:
            leases = [lease for lease, held in self._leases.items() if held.owner == owner]
            for lease in leases:
                held = self._leases.pop(lease)
                self._keys[held.key].in_flight -= 1
            if leases:
                self._changed.notify_all()
            return len(leases)

    def stats(self) -> dict[str, KeyStats]:
        """In-flight requests, remaining pause and pauses so far, per key."""
        with self._changed:
            now = self.clock()
            return {
                key: KeyStats(state.in_flight, max(0.0, state.paused_until - now), state.pauses)
                for key, state in self._keys.items()
            }
