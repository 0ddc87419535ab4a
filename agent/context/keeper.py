"""``ContextKeeper``: runs the plans of this package for one agent, turn after turn.

Everything it decides comes from the pure planners (``window``, ``trimming``,
``compaction``); the one piece of I/O, the summary request, goes through the call
function the loop hands in (``model_call`` and the fallback chain, so a summary gets
the same stall detection, retries and fallbacks as any other request).

Before each request (``prepare``): measure it; past the threshold, trim; if trimming
does not make enough room, compact; if that is still not enough, trim what is left;
when nothing more can be removed and the request does not fit, end the turn with a
message that says so. After a context-length error (``overflow_recovery``): learn the
real size from the error, do the same, and retry once; then the fallback chain decides.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, replace
from typing import Literal

from agent.config import CompactionSettings
from agent.context.compaction import apply_compaction, plan_compaction
from agent.context.state import ContextState
from agent.context.summary import CallFn, Recover, Stop, SummaryJob, summarise
from agent.context.tokens import fixed_tokens, messages_tokens, text_tokens
from agent.context.trimming import TrimPlan, plan_trim, stub_boundary
from agent.context.window import (
    MIN_ANSWER_TOKENS,
    TRIM_HEADROOM,
    Limits,
    Size,
    SizeAnchor,
    clamp_output,
    estimate,
    limits,
    measure,
    output_room,
    overflow_facts,
)
from agent.events import AgentEvent, Compacted, ContextFill, ContextTrimmed, ModelCallFinished, ModelCallStarted, Notice
from agent.messages import Message
from agent.providers.base import ModelRequest, Provider
from agent.recovery.outcome import CallResult
from agent.recovery.policy import describe

__all__ = ["CallFn", "ContextKeeper", "Prepared", "Recover", "TurnFigures"]
Reason = Literal["threshold", "overflow", "manual"]
_RECALIBRATE = 0.05  # a tokenizer ratio this far from the saved one is saved again


@dataclass(frozen=True, slots=True)
class Prepared:
    """What ``prepare`` decided: the request's output limit, or that the turn must end
    (``error`` says why; with "ready" it is a note, e.g. that there was nothing to do).
    "too_long": nothing more can be removed and the request does not fit this model; a
    fallback with a larger window may still take it."""

    max_tokens: int | None
    outcome: Literal["ready", "failed", "interrupted", "too_long"] = "ready"
    error: str | None = None
    cache_anchors: tuple[int, ...] = ()  # for ModelRequest.cache_anchors


@dataclass(slots=True)
class TurnFigures:
    """The context figures of one turn (for ``AgentResult.context`` and ``--json``)."""

    tokens: int = 0
    window: int = 0
    peak_fill: float = 0.0
    compactions: int = 0
    trimmed_results: int = 0
    summary_tokens_spent: int = 0

    def to_dict(self) -> dict[str, int | float]:
        """The ``context`` object of results and ``--json``."""
        fill = self.tokens / self.window if self.window else 0.0
        return {
            "window": self.window,
            "tokens": self.tokens,
            "fill": round(fill, 4),
            "peak_fill": round(self.peak_fill, 4),
            "compactions": self.compactions,
            "trimmed_results": self.trimmed_results,
            "summary_tokens_spent": self.summary_tokens_spent,
        }


@dataclass(slots=True)
class _Job:
    """One request being fitted: its history (changed in place), the request it is built
    into, and the provider that will get it."""

    history: list[Message]
    template: ModelRequest
    provider: Provider
    call: CallFn
    trimmed_before: int | None = None  # when the newest trim before this job happened

    @property
    def fixed(self) -> int:
        return fixed_tokens(self.template.system, self.template.tools)


class ContextKeeper:
    """Keeps one agent's conversation inside its model's context window."""

    def __init__(
        self,
        settings: CompactionSettings,
        state: ContextState | None = None,
        persist: Callable[[ContextState], None] | None = None,
    ) -> None:
        self.settings = settings
        self.state = state or ContextState()
        self._persist = persist or (lambda state: None)
        self._anchor: SizeAnchor | None = None
        self._pending: SizeAnchor | None = None  # the request in flight, waiting for its report
        self._reporting_model: str | None = None
        self.turn = TurnFigures()

    # -- the state ----------------------------------------------------------------
    def reset(self, state: ContextState | None = None) -> None:
        """Start over from ``state`` (a new, resumed or rewritten conversation); what was
        learned about the models carries over where ``state`` knows nothing newer."""
        new = state or ContextState()
        calibration = {**self.state.calibration, **new.calibration}
        windows = {**self.state.windows, **new.windows}
        self.state = replace(new, calibration=calibration, windows=windows)
        self._anchor = self._pending = None

    def start_turn(self) -> None:
        """Fresh figures for a new turn."""
        self.turn = TurnFigures(self.turn.tokens, self.turn.window)

    def window(self, provider: Provider) -> int:
        """The provider's context window: the catalog's (overridable), or less if one
        of its errors named a smaller one."""
        return min(provider.context_window, self.state.windows.get(provider.model, provider.context_window))

    def usage(self, request: ModelRequest, provider: Provider) -> dict[str, int | float]:
        """How full the window would be with ``request`` now (nothing changes), and the
        compactions and stubbed results of this conversation."""
        size = self._sized(fixed_tokens(request.system, request.tools), list(request.messages), provider.model)
        window = self.window(provider)
        return {
            "window": window,
            "tokens": size.tokens,
            "fill": round(size.tokens / window, 4) if window else 0.0,
            "compactions": len(self.state.compactions),
            "trimmed_results": len(self.state.stubbed),
        }

    # -- what the loop calls -------------------------------------------------------
    def observe(self, event: AgentEvent) -> None:
        """Learn the true size of the request in flight from the provider's report."""
        if isinstance(event, ModelCallStarted):
            self._reporting_model = event.model
        elif isinstance(event, ModelCallFinished) and self._pending is not None:
            parts = (event.input_tokens, event.cache_read_tokens, event.cache_write_tokens)
            if any(p is not None for p in parts):
                reported = sum(p or 0 for p in parts)
                model = self._reporting_model or self._pending.model
                self._anchor = replace(self._pending, reported=reported, model=model)
                self._calibrate(self._anchor)
            self._pending = None

    def _calibrate(self, anchor: SizeAnchor) -> None:
        """Remember how the model's counts compare to our estimate, for the requests that
        have no report to anchor on (the first one after a resume, another model's)."""
        saved = self.state.calibration.get(anchor.model)
        if saved is None or abs(anchor.ratio - saved) > saved * _RECALIBRATE:
            self.state = self.state.with_calibration(anchor.model, anchor.ratio)
            self._persist(self.state)

    def prepare(
        self, history: list[Message], template: ModelRequest, provider: Provider, call: CallFn
    ) -> Generator[AgentEvent, None, Prepared]:
        """Fit the next request into the window; ``history`` may be trimmed or compacted
        in place. ``template`` is the request as the loop would send it."""
        job = _Job(history, template, provider, call, self._newest_trim())
        if self.settings.enabled:
            size = self._size(job)
            bounds = self._limits(job)
            if size.tokens > bounds.threshold:
                try:
                    yield from self._shrink(job, bounds, "threshold")
                except Stop as stop:
                    return Prepared(None, stop.outcome, stop.message)
        return (yield from self._ready(job))

    def overflow_recovery(
        self, history: list[Message], template: ModelRequest, provider: Callable[[], Provider], call: CallFn
    ) -> Recover:
        """What the loop does when a request is refused as too long: trim, compact and
        retry once; after that (or when nothing can be removed) the chain decides."""
        used = False

        def recover(result: CallResult, request: ModelRequest) -> Generator[AgentEvent, None, ModelRequest | None]:
            nonlocal used
            if used or not self.settings.enabled:
                return None
            used = True
            job = _Job(history, template, provider(), call, self._newest_trim())
            self._learn(job, result, request)
            bounds, before = self._limits(job), list(history)
            if self._size(job).tokens > bounds.threshold:  # else only the output limit was too high
                yield Notice(f"the conversation is too long for {job.provider.model}; making room, then once more")
                try:
                    yield from self._shrink(job, bounds, "overflow")
                except Stop as stop:
                    said = f" The server said: {describe(result.error)}" if result.error else ""
                    result.error_message = stop.message + said  # in its own words, with its sizes
                    return None
            prepared = yield from self._ready(job)
            shrunk = len(before) != len(history) or any(a is not b for a, b in zip(before, history, strict=True))
            wanted = job.provider.output_limit(request)
            lowered = prepared.max_tokens is not None and (wanted is None or prepared.max_tokens < wanted)
            fitted = result.error is not None and result.error.fitting_max_tokens is not None  # tried already
            if not shrunk and (fitted or not lowered):
                return None  # nothing a retry would do differently: the chain decides
            return replace(
                request, messages=list(history), max_tokens=prepared.max_tokens, cache_anchors=prepared.cache_anchors
            )

        return recover

    def compact(
        self, history: list[Message], template: ModelRequest, provider: Provider, call: CallFn, focus: str | None
    ) -> Generator[AgentEvent, None, Prepared]:
        """``/compact``: summarise now (``focus``: what the summary should stress)."""
        job = _Job(history, template, provider, call)
        try:
            done = yield from self._compact(job, "manual", focus)
        except Stop as stop:
            return Prepared(None, stop.outcome, stop.message)
        if not done:  # "ready" with a note: nothing went wrong, there was just nothing to do
            return Prepared(None, "ready", "nothing to compact yet: there is no older part to summarise")
        return Prepared(None)

    # -- fitting -------------------------------------------------------------------
    def _size(self, job: _Job, messages: list[Message] | None = None) -> Size:
        """The size of ``job``'s request with ``messages`` (default: its history)."""
        return self._sized(job.fixed, job.history if messages is None else messages, job.provider.model)

    def _sized(self, fixed: int, messages: list[Message], model: str) -> Size:
        return measure(fixed, messages, self._anchor, model, self.state.calibration.get(model, 1.0))

    def _limits(self, job: _Job) -> Limits:
        return limits(self.window(job.provider), self.settings, job.template.max_tokens)

    def _ready(self, job: _Job) -> Generator[AgentEvent, None, Prepared]:
        size = self._size(job)
        window = self.window(job.provider)
        self._pending = SizeAnchor(0, estimate(job.fixed, job.history), tuple(job.history), job.provider.model)
        self.turn.tokens, self.turn.window = size.tokens, window
        self.turn.peak_fill = max(self.turn.peak_fill, size.tokens / window if window else 0.0)
        yield ContextFill(size.tokens, window, size.measured)
        wanted = job.provider.output_limit(replace(job.template, messages=job.history))
        room = output_room(window, size.tokens, self.settings)
        anchors = self._cache_anchors(job)
        if wanted is not None and MIN_ANSWER_TOKENS <= room < wanted:
            return Prepared(clamp_output(wanted, room), cache_anchors=anchors)
        return Prepared(job.template.max_tokens, cache_anchors=anchors)

    def _newest_trim(self) -> int | None:
        return max(self.state.stubbed.values(), default=None)

    def _cache_anchors(self, job: _Job) -> tuple[int, ...]:
        """Where the stable prefix ends, for cache breakpoints: the last stub, else the
        compaction summary (both stay as they are until the next compaction). Right after
        a trim, the boundary before it too: earlier requests cached that prefix, which the
        trim left as it was, and this request writes the new one for the requests after."""
        summary = self.state.prefix - 1 if self.state.last is not None else None
        newest = stub_boundary(job.history, self.state.stubbed)
        before = None
        if self._newest_trim() != job.trimmed_before:
            if job.trimmed_before is not None:
                before = stub_boundary(job.history, self.state.stubbed, job.trimmed_before)
            before = summary if before is None else before
        newest = summary if newest is None else newest
        return tuple(dict.fromkeys(i for i in (before, newest) if i is not None and i < len(job.history)))

    def _shrink(self, job: _Job, bounds: Limits, reason: Reason) -> Generator[AgentEvent, None, None]:
        """Trim, then compact, then trim what is left; raise ``Stop`` when it still
        does not fit."""
        if self.settings.trim:
            plan = self._trim_plan(job, self.settings.keep_tool_rounds)
            if plan is not None and self._size(job, plan.messages).tokens <= bounds.trim_target:
                yield from self._apply_trim(job, plan)
                return
        try:
            compacted = yield from self._compact(job, reason, None)
        except Stop as stop:
            if stop.outcome != "failed" or reason != "threshold" or self._size(job).tokens > bounds.hard:
                raise
            yield Notice(f"{stop.message.split(' Nothing was lost')[0]}; going on without compacting", "warning")
            compacted = False
        if compacted and self._size(job).tokens <= bounds.threshold:
            return
        if self.settings.trim:
            # What is left: older results first; the work in progress only when it cannot fit otherwise.
            for keep, goal in ((self.settings.keep_tool_rounds, bounds.threshold), (0, bounds.hard)):
                plan = self._trim_plan(job, keep) if self._size(job).tokens > goal else None
                if plan is not None:
                    yield from self._apply_trim(job, plan)
        size = self._size(job).tokens
        if size > bounds.hard:
            raise Stop("too_long", self._cannot_shrink(job, size))

    def _trim_plan(self, job: _Job, keep: int) -> TrimPlan | None:
        return plan_trim(job.history, keep_rounds=keep, min_tokens=self.settings.trim_min_tokens)

    def _apply_trim(self, job: _Job, plan: TrimPlan) -> Iterator[AgentEvent]:
        before = self._size(job).tokens
        job.history[:] = plan.messages
        self.state = self.state.with_stubs(plan.stubbed, self.state.full_index(len(job.history)))
        self._persist(self.state)
        self.turn.trimmed_results += len(plan.stubbed)
        yield ContextTrimmed(len(plan.stubbed), before, self._size(job).tokens)

    def _learn(self, job: _Job, result: CallResult, request: ModelRequest) -> None:
        """Take the sizes a context-length error names: the true prompt size (a better
        anchor than any estimate) and the real window, when smaller than the catalog's."""
        facts = overflow_facts(result.error.message if result.error else "")
        model = job.provider.model
        if facts.window is not None and facts.window < job.provider.context_window:
            self.state = self.state.with_window(model, facts.window)
            self._persist(self.state)
        ours = estimate(job.fixed, request.messages)
        window = self.window(job.provider)
        # Unknown size: it did not fit, so count it as at least the window.
        reported = facts.prompt_tokens if facts.prompt_tokens is not None else max(ours, window + 1)
        self._anchor = SizeAnchor(reported, ours, tuple(request.messages), model)

    # -- compaction ----------------------------------------------------------------
    def _compact(self, job: _Job, reason: Reason, focus: str | None) -> Generator[AgentEvent, None, bool]:
        """Summarise the older history; False when there is nothing worth summarising."""
        history, window = job.history, self.window(job.provider)
        plan = plan_compaction(history, self.state, int(window * self.settings.keep_recent))
        if plan is None:
            return False
        older = messages_tokens(plan.older(history))
        if reason != "manual" and older < window * TRIM_HEADROOM:
            return False  # a summary would not make enough room to be worth a model call
        before = self._size(job).tokens
        yield Notice(f"compacting the conversation: asking the model to summarise {plan.cut - plan.prefix} messages")
        self._pending = None  # the summary's usage is not the size of the conversation
        summary, spent = yield from summarise(
            SummaryJob(
                history,
                plan,
                focus,
                job.template,
                job.provider,
                window,
                self.settings,
                lambda messages: self._size(job, messages).tokens,
                job.call,
            )
        )
        compaction = apply_compaction(history, self.state, plan, summary)
        history[:] = compaction.messages
        self.state = compaction.state
        self._persist(self.state)
        self.turn.compactions += 1
        self.turn.summary_tokens_spent += spent or 0
        after = self._size(job).tokens
        yield Compacted(plan.cut - plan.prefix, before, after, text_tokens(summary), reason, spent)
        return True

    # -- messages ------------------------------------------------------------------
    def _cannot_shrink(self, job: _Job, size: int) -> str:
        window = self.window(job.provider)
        return (
            f"the conversation is too long for the context window of {job.provider.model} "
            f"(about {size:,} tokens of {window:,}) and cannot be made smaller: the first message and the work in "
            "progress must stay whole. Nothing was lost: the whole conversation is kept in the session. "
            "Start a new conversation with /new, or switch to a model with a larger context window with /model."
        )
