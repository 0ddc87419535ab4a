"""One attempt at a model call: a worker streams, the loop thread watches.

The loop thread waits on the worker's queue in short slices; between items it asks the
stale detector for a verdict and checks the interrupt. A stale or interrupted stream is
killed through the provider's one reset path, which shuts its sockets down so the
worker's blocked read wakes at once; the worker then closes what it owned and ends.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import Protocol

from agent.events import (
    AgentEvent,
    ConnectionReset,
    Stalled,
    TextDelta,
    ThinkingDelta,
    ToolCallStreaming,
    Waiting,
)
from agent.pricing import Prices
from agent.providers.base import ErrorFacts, ModelRequest, Provider, ResetReport
from agent.providers.deltas import Delta, KeepAlive, TextChunk, ThinkingChunk, ToolCallBegin, UsageChunk
from agent.streaming.accumulator import Accumulator, ResponseSnapshot
from agent.streaming.seam import SeamJoiner
from agent.streaming.watchdog import Clock, StaleWatchdog, StallLimits, Verdict
from agent.streaming.worker import Failed, Finished, StreamWorker, Wake

MAX_WAIT_SLICE = 0.25  # bounds how late a verdict or an interrupt can be noticed


@dataclass(frozen=True, slots=True)
class AttemptResult:
    snapshot: ResponseSnapshot
    error: ErrorFacts | None = None
    interrupted: bool = False
    reset_done: bool = False  # the attempt already reset the connection (stale/interrupt)
    terminal_missing: bool = False
    repeated_chars: int = 0  # characters of a continuation dropped as repeats of the shown text
    prices: Prices | None = None  # the provider's, so observers can price what it reported


def reset_event(report: ResetReport) -> ConnectionReset:
    return ConnectionReset(report.wire, report.caller, report.ok, report.detail)


class StreamObserver(Protocol):
    """Sees every delta of every attempt, keep-alives included (the trace file)."""

    def attempt_started(self, call_number: int, attempt: int, provider: str, model: str) -> None: ...

    def delta(self, delta: Delta) -> None: ...

    def attempt_ended(self, result: AttemptResult) -> None: ...


def run_attempt(
    provider: Provider,
    request: ModelRequest,
    *,
    limits: StallLimits,
    interrupt: threading.Event,
    clock: Clock,
    on_worker: list[StreamWorker] | None = None,
    shown_text: str = "",
    observer: StreamObserver | None = None,
) -> Generator[AgentEvent, None, AttemptResult]:
    result = yield from _attempt(provider, request, limits, interrupt, clock, on_worker, shown_text, observer)
    result = replace(result, prices=provider.prices)
    if observer is not None:
        observer.attempt_ended(result)
    return result


def _attempt(
    provider: Provider,
    request: ModelRequest,
    limits: StallLimits,
    interrupt: threading.Event,
    clock: Clock,
    on_worker: list[StreamWorker] | None,
    shown_text: str,
    observer: StreamObserver | None,
) -> Generator[AgentEvent, None, AttemptResult]:
    run = _Run(provider, Accumulator(provider.wire), SeamJoiner(shown_text), observer)
    watchdog = StaleWatchdog(limits, streaming=request.stream, clock=clock)
    worker = StreamWorker(lambda: provider.open_stream(request))
    if on_worker is not None:
        on_worker.append(worker)  # lets interrupt() wake this wait from another thread
    worker.start()
    try:
        return (yield from _pump(run, worker, watchdog, interrupt))
    except BaseException:
        # The consumer stopped reading mid-stream (closed the event iterator, or a
        # KeyboardInterrupt): no stream may keep running behind its back.
        if worker.alive and not worker.abandoned:
            provider.reset("interrupt")
            worker.abandon(join_timeout=0)
        raise
    finally:
        if on_worker is not None and worker in on_worker:
            on_worker.remove(worker)


@dataclass(slots=True)
class _Run:
    """What one attempt builds up while its stream runs."""

    provider: Provider
    accumulator: Accumulator
    joiner: SeamJoiner
    observer: StreamObserver | None


def _pump(
    run: _Run, worker: StreamWorker, watchdog: StaleWatchdog, interrupt: threading.Event
) -> Generator[AgentEvent, None, AttemptResult]:
    """Wait on the worker's queue in short slices, asking the stale detector between items."""
    while True:
        if interrupt.is_set():
            return (yield from _kill(run.provider, worker, run.accumulator, "interrupt"))
        wait = min(MAX_WAIT_SLICE, watchdog.seconds_to_next_check() + 0.001)
        try:
            item = worker.queue.get(timeout=wait)
        except queue.Empty:
            verdict = watchdog.check()
            if verdict.state == "stale":
                yield Stalled(round(verdict.silent_for, 1), verdict.phase, verdict.keepalives)
                return (yield from _kill(run.provider, worker, run.accumulator, "stale", verdict))
            if verdict.state == "waiting":
                yield Waiting(round(verdict.silent_for), verdict.phase)
            continue
        if isinstance(item, Wake):
            continue
        if isinstance(item, Finished | Failed):
            return (yield from _ended(run.provider, item, run.accumulator, run.joiner))
        if run.observer is not None:
            run.observer.delta(item)
        if item.progress:
            watchdog.progress()
        elif isinstance(item, KeepAlive):
            watchdog.keepalive()
        yield from _take(run, item)


def _take(run: _Run, item: Delta) -> Generator[AgentEvent, None, None]:
    """One delta into the reply; text goes through the seam joiner first."""
    accumulator = run.accumulator
    if isinstance(item, TextChunk):
        yield from _release_held(run.joiner.feed(item.text), accumulator)
        return
    if not isinstance(item, KeepAlive | UsageChunk):
        yield from _release_held(run.joiner.finish(), accumulator)  # the text block ended
    if isinstance(item, ThinkingChunk) and item.text:
        yield ThinkingDelta(item.text)
    elif isinstance(item, ToolCallBegin):
        yield ToolCallStreaming(item.call_id, item.name)
    accumulator.apply(item)


def _release_held(text: str, accumulator: Accumulator) -> Generator[AgentEvent, None, None]:
    if text:
        yield TextDelta(text)
        accumulator.apply(TextChunk(text))


def _ended(
    provider: Provider, item: Finished | Failed, accumulator: Accumulator, joiner: SeamJoiner
) -> Generator[AgentEvent, None, AttemptResult]:
    """The stream is over. A reply whose terminal event arrived is whole, even when the
    connection failed right after it; one that never saw it is incomplete."""
    if accumulator.snapshot().whole:
        yield from _release_held(joiner.finish(), accumulator)
        return AttemptResult(accumulator.snapshot(), repeated_chars=joiner.dropped)
    failed = accumulator.snapshot(failed=True)
    if isinstance(item, Finished):  # the iterator ended without the terminal event
        facts = ErrorFacts("incomplete_stream", "the stream ended without its terminal event")
        return AttemptResult(failed, facts, terminal_missing=True, repeated_chars=joiner.dropped)
    facts = provider.error_facts(item.error)
    return AttemptResult(failed, _with_output(facts, failed), repeated_chars=joiner.dropped)


def _kill(
    provider: Provider,
    worker: StreamWorker,
    accumulator: Accumulator,
    caller: str,
    verdict: Verdict | None = None,
) -> Generator[AgentEvent, None, AttemptResult]:
    report = provider.reset(caller)
    yield reset_event(report)
    worker.abandon()
    if caller == "interrupt" or verdict is None:
        return AttemptResult(accumulator.snapshot(interrupted=True), interrupted=True, reset_done=True)
    snapshot = accumulator.snapshot(failed=True)
    what = "only keep-alives" if verdict.keepalives else "nothing"
    facts = ErrorFacts("stale", f"the provider sent {what} for {verdict.silent_for:.0f} s")
    return AttemptResult(snapshot, _with_output(facts, snapshot), reset_done=True)


def _with_output(facts: ErrorFacts, snapshot: ResponseSnapshot) -> ErrorFacts:
    if not snapshot.has_visible_output:
        return facts
    return replace(facts, output_emitted=True)
