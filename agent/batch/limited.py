"""``LimitedProvider``: a Provider that asks the batch's rate limiter before each request.

It wraps the real provider without the loop knowing: ``open_stream`` takes a slot (waiting
while the key is full or paused) and the stream's ``close`` gives it back; ``error_facts``
passes the real provider's facts on and, when they carry ``retry-after``, pauses every
worker of the key for that long.

Waiting for a slot is our own queueing, not provider silence, so it must not count
towards the stale limit: the agent of a batch task runs on a ``QueueAwareClock``, which
stands still while this wrapper waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from agent.batch.limiter import LimiterHandle
from agent.pricing import Prices
from agent.providers.base import ErrorFacts, ModelRequest, Provider, ProviderStream, ResetReport
from agent.providers.deltas import Delta

T = TypeVar("T")
WAIT_SLICE = 0.25  # how long one acquire call may wait: bounds how late a cancel is seen


class SlotWaitCancelled(Exception):
    """The provider was reset (interrupt or retry) while a request waited for its slot."""


def limiter_key(provider: Provider) -> str:
    """The key requests are limited by: the endpoint and, through it, its API key (a batch
    has one key per provider and endpoint). Never contains the key itself."""
    return f"{provider.name} {provider.base_url}"


class QueueAwareClock:
    """``time.monotonic`` that stands still while a request waits for a limiter slot.

    One per agent (an agent streams one request at a time): the stale detector then
    measures only the provider's silence, and a long queue is never taken for a stall.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._waiters = 0
        self._frozen_at = 0.0
        self._frozen_total = 0.0

    def __call__(self) -> float:
        with self._lock:
            now = self._clock()
            frozen = self._frozen_total + (now - self._frozen_at if self._waiters else 0.0)
            return now - frozen

    def wait_started(self) -> None:
        """A request starts waiting for a slot: time stops (nested waits share it)."""
        with self._lock:
            if self._waiters == 0:
                self._frozen_at = self._clock()
            self._waiters += 1

    def wait_ended(self) -> None:
        """The wait is over (a slot, a cancel or an error): time runs again."""
        with self._lock:
            self._waiters -= 1
            if self._waiters == 0:
                self._frozen_total += self._clock() - self._frozen_at


class _LeasedStream:
    """A provider stream that gives its limiter slot back when closed (once)."""

    def __init__(self, stream: ProviderStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release = release
        self._released = threading.Event()

    def __iter__(self) -> Iterator[Delta]:
        return iter(self._stream)

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            if not self._released.is_set():
                self._released.set()
                self._release()


class _Inner(Generic[T]):
    """An attribute of the wrapped provider, read and written through (a fallback's
    stale limit is set after it is built; a provider may learn its window late)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, wrapper: LimitedProvider, owner: type | None = None) -> T:
        value: T = getattr(wrapper.inner, self._name)
        return value

    def __set__(self, wrapper: LimitedProvider, value: T) -> None:
        setattr(wrapper.inner, self._name, value)


class LimitedProvider:
    """The ``Provider`` protocol around ``inner``, with each request taking a limiter slot.

    ``owner`` names the task the slots belong to; ``clock`` is the agent's
    ``QueueAwareClock`` (None: waits are not hidden from the stale detector).
    """

    def __init__(
        self,
        inner: Provider,
        limiter: LimiterHandle,
        owner: str,
        clock: QueueAwareClock | None = None,
    ) -> None:
        self.inner = inner
        self.key = limiter_key(inner)
        self._limiter = limiter
        self._owner = owner
        self._clock = clock
        self._generation = 0  # a reset cancels the waits that started before it
        self._lock = threading.Lock()
        self._noted: BaseException | None = None

    # -- the Provider attributes, read from and written to the real provider --------
    name: _Inner[str] = _Inner()
    wire: _Inner[str] = _Inner()
    model: _Inner[str] = _Inner()
    base_url: _Inner[str] = _Inner()
    is_local: _Inner[bool] = _Inner()
    context_window: _Inner[int] = _Inner()
    max_output_tokens: _Inner[int] = _Inner()
    stale_timeout: _Inner[float | None] = _Inner()
    first_token_timeout: _Inner[float | None] = _Inner()
    reasoning: _Inner[bool] = _Inner()
    accepts_prefill: _Inner[bool] = _Inner()
    notices: _Inner[list[str]] = _Inner()
    prices: _Inner[Prices | None] = _Inner()

    def __getattr__(self, name: str) -> Any:
        # Anything else a provider offers (its profile, a price table...) reads through.
        if name == "inner":  # not set yet (half-built): no endless recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    # -- the Provider methods --------------------------------------------------------
    def open_stream(self, request: ModelRequest) -> ProviderStream:
        """Wait for a slot, send the request; the returned stream's ``close`` frees the slot."""
        lease = self._acquire()
        try:
            stream = self.inner.open_stream(request)
        except BaseException as exc:
            self._note_backoff(exc)  # pause the others at once, before anyone else sends
            self._limiter.release(lease)
            raise
        return _LeasedStream(stream, lambda: self._limiter.release(lease))

    def error_facts(self, exc: BaseException) -> ErrorFacts:
        """The real provider's facts; a ``retry-after`` in them pauses the whole key."""
        if isinstance(exc, SlotWaitCancelled):
            return ErrorFacts("transport", str(exc))
        facts = self.inner.error_facts(exc)
        if facts.retry_after is not None and exc is not self._noted:
            self._limiter.pause(self.key, facts.retry_after)
        return facts

    def reset(self, caller: str) -> ResetReport:
        """Cancel the waits for a slot, then the real provider's one reset path."""
        with self._lock:
            self._generation += 1
        return self.inner.reset(caller)

    def output_limit(self, request: ModelRequest) -> int | None:
        return self.inner.output_limit(request)

    def close(self) -> None:
        self.inner.close()

    # -- internals -------------------------------------------------------------------
    def _acquire(self) -> int:
        with self._lock:
            generation = self._generation
        if self._clock is not None:
            self._clock.wait_started()
        try:
            while True:
                lease = self._limiter.acquire(self.key, self._owner, WAIT_SLICE)
                with self._lock:
                    cancelled = generation != self._generation
                if cancelled:
                    if lease is not None:
                        self._limiter.release(lease)
                    raise SlotWaitCancelled("the wait for a rate-limit slot was cancelled")
                if lease is not None:
                    return lease
        finally:
            if self._clock is not None:
                self._clock.wait_ended()

    def _note_backoff(self, exc: BaseException) -> None:
        try:
            facts = self.inner.error_facts(exc)
        except Exception:  # facts are the loop's business; this is only an early notice
            return
        if facts.retry_after is not None:
            self._noted = exc
            self._limiter.pause(self.key, facts.retry_after)
