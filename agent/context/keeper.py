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

from agent.call import CallResult
from agent.context.compaction import (
    CompactionPlan,
    apply_compaction,
    drop_points,
    plan_compaction,
    summary_request,
)
from agent.context.settings import CompactionSettings
from agent.context.state import ContextState
from agent.context.tokens import fixed_tokens, messages_tokens, text_tokens
from agent.context.trimming import TrimPlan, plan_trim
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
from agent.recovery.messages import call_failure_message

Recover = Callable[[CallResult, ModelRequest], Generator[AgentEvent, None, "ModelRequest | None"]]
CallFn = Callable[[ModelRequest, "Recover | None"], Generator[AgentEvent, None, CallResult]]
Reason = Literal["threshold", "overflow", "manual"]
_QUIET = frozenset({"text_delta", "thinking_delta", "tool_call_streaming"})
_MIN_SUMMARY_TOKENS = 256


@dataclass(frozen=True, slots=True)
class Prepared:
    """What ``prepare`` decided: the request's output limit, or that the turn must end
    (``error`` says why; with "ready" it is a note, e.g. that there was nothing to do)."""

    max_tokens: int | None
    outcome: Literal["ready", "failed", "interrupted"] = "ready"
    error: str | None = None


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

    @property
    def fixed(self) -> int:
        return fixed_tokens(self.template.system, self.template.tools)


class _Stop(Exception):
    """Internal: the turn cannot go on (``outcome`` says how)."""

    def __init__(self, outcome: Literal["failed", "interrupted"], message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


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
        self._learned: dict[str, int] = {}  # model -> the window its errors named
        self.turn = TurnFigures()

    # -- the state ----------------------------------------------------------------
    def reset(self, state: ContextState | None = None) -> None:
        """Start over from ``state`` (a new, resumed or rewritten conversation)."""
        self.state = state or ContextState()
        self._anchor = self._pending = None

    def start_turn(self) -> None:
        """Fresh figures for a new turn."""
        self.turn = TurnFigures(self.turn.tokens, self.turn.window)

    def window(self, provider: Provider) -> int:
        """The provider's context window: the catalog's (overridable), or less if one
        of its errors named a smaller one."""
        return min(provider.context_window, self._learned.get(provider.model, provider.context_window))

    def measured(self, request: ModelRequest, provider: Provider) -> TurnFigures:
        """The figures of ``request`` as it stands, without changing anything."""
        size = measure(fixed_tokens(request.system, request.tools), request.messages, self._anchor, provider.model)
        window = self.window(provider)
        return TurnFigures(size.tokens, window, size.tokens / window if window else 0.0)

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
            self._pending = None

    def prepare(
        self, history: list[Message], template: ModelRequest, provider: Provider, call: CallFn
    ) -> Generator[AgentEvent, None, Prepared]:
        """Fit the next request into the window; ``history`` may be trimmed or compacted
        in place. ``template`` is the request as the loop would send it."""
        job = _Job(history, template, provider, call)
        if self.settings.enabled:
            size = self._size(job)
            bounds = self._limits(job)
            if size.tokens > bounds.threshold:
                try:
                    yield from self._shrink(job, bounds, "threshold")
                except _Stop as stop:
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
            job = _Job(history, template, provider(), call)
            self._learn(job, result, request)
            bounds = self._limits(job)
            yield Notice(f"the conversation is too long for {job.provider.model}; making room and trying once more")
            if self._size(job).tokens > bounds.threshold:  # else only the output limit was too high
                try:
                    yield from self._shrink(job, bounds, "overflow")
                except _Stop as stop:
                    result.error_message = stop.message
                    return None
            prepared = yield from self._ready(job)
            return replace(request, messages=list(history), max_tokens=prepared.max_tokens)

        return recover

    def compact(
        self, history: list[Message], template: ModelRequest, provider: Provider, call: CallFn, focus: str | None
    ) -> Generator[AgentEvent, None, Prepared]:
        """``/compact``: summarise now (``focus``: what the summary should stress)."""
        job = _Job(history, template, provider, call)
        try:
            done = yield from self._compact(job, "manual", focus)
        except _Stop as stop:
            return Prepared(None, stop.outcome, stop.message)
        if not done:  # "ready" with a note: nothing went wrong, there was just nothing to do
            return Prepared(None, "ready", "nothing to compact yet: there is no older part to summarise")
        return Prepared(None)

    # -- fitting -------------------------------------------------------------------
    def _size(self, job: _Job) -> Size:
        return measure(job.fixed, job.history, self._anchor, job.provider.model)

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
        if wanted is not None and MIN_ANSWER_TOKENS <= room < wanted:
            return Prepared(clamp_output(wanted, room))
        return Prepared(job.template.max_tokens)

    def _shrink(self, job: _Job, bounds: Limits, reason: Reason) -> Generator[AgentEvent, None, None]:
        """Trim, then compact, then trim what is left; raise ``_Stop`` when it still
        does not fit."""
        if self.settings.trim:
            plan = self._trim_plan(job, self.settings.keep_tool_rounds)
            if plan is not None and self._measure(job, plan.messages) <= bounds.trim_target:
                yield from self._apply_trim(job, plan)
                return
        try:
            compacted = yield from self._compact(job, reason, None)
        except _Stop as stop:
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
            raise _Stop("failed", self._cannot_shrink(job, size))

    def _measure(self, job: _Job, messages: list[Message]) -> int:
        return measure(job.fixed, messages, self._anchor, job.provider.model).tokens

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
            self._learned[model] = facts.window
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
        summary, spent = yield from self._summarise(job, plan, focus)
        compaction = apply_compaction(history, self.state, plan, summary)
        history[:] = compaction.messages
        self.state = compaction.state
        self._persist(self.state)
        self.turn.compactions += 1
        self.turn.summary_tokens_spent += spent or 0
        after = self._size(job).tokens
        yield Compacted(plan.cut - plan.prefix, before, after, text_tokens(summary), reason, spent)
        return True

    def _summarise(
        self, job: _Job, plan: CompactionPlan, focus: str | None
    ) -> Generator[AgentEvent, None, tuple[str, int | None]]:
        provider, window = job.provider, self.window(job.provider)
        limit = max(_MIN_SUMMARY_TOKENS, min(self.settings.summary_max_tokens, provider.max_output_tokens, window // 8))
        room = window - limit - self.settings.margin_tokens
        history = self._summary_source(job, plan, focus, room)
        drops = [0, *drop_points(history, plan)]
        state = {"choice": 0, "attempts": 1}

        def fitting(start: int, ceiling: int) -> int:
            """The first drop choice from ``start`` whose request fits ``ceiling``."""
            for choice in range(start, len(drops)):
                messages = summary_request(history, plan, dropped=drops[choice], focus=focus)
                if self._measure(job, messages) <= ceiling:
                    return choice
            return len(drops) - 1

        def request_for(choice: int) -> ModelRequest:
            messages = summary_request(history, plan, dropped=drops[choice], focus=focus)
            return replace(job.template, messages=messages, max_tokens=limit)

        def smaller(result: CallResult, request: ModelRequest) -> Generator[AgentEvent, None, ModelRequest | None]:
            """A summary request that was still too long: leave out more of the oldest part."""
            if state["attempts"] >= self.settings.max_summary_attempts or state["choice"] >= len(drops) - 1:
                return None
            state["attempts"] += 1
            facts = overflow_facts(result.error.message if result.error else "")
            sent = self._measure(job, list(request.messages))
            too_long = facts.prompt_tokens if facts.prompt_tokens is not None else sent
            excess = max(too_long - room, sent // 4)  # unknown by how much: a quarter less at least
            state["choice"] = fitting(state["choice"] + 1, sent - excess)
            yield Notice(f"the summary request was too long; leaving out the oldest {drops[state['choice']]} messages")
            return request_for(state["choice"])

        state["choice"] = fitting(0, room)
        self._pending = None  # the summary's usage is not the size of the conversation
        result = yield from _quiet(job.call(request_for(state["choice"]), smaller))
        summary = result.text.strip()
        if result.status == "interrupted":
            raise _Stop("interrupted", "interrupted by the user while the conversation was being compacted")
        if result.status != "ok" or not summary:
            raise _Stop("failed", self._summary_failed(job, result))
        usage = result.usage
        spent = None if usage.prompt_tokens is None and usage.output_tokens is None else (
            (usage.prompt_tokens or 0) + (usage.output_tokens or 0)
        )
        return summary, spent

    def _summary_source(self, job: _Job, plan: CompactionPlan, focus: str | None, room: int) -> list[Message]:
        """The history the summary request is made of: as the model last saw it (its
        prompt cache then serves most of the request), or with every large tool result
        stubbed when that is too long (the older part is about to be replaced anyway)."""
        if self._measure(job, summary_request(job.history, plan, focus=focus)) <= room:
            return job.history
        trimmed = plan_trim(job.history, keep_rounds=0, min_tokens=self.settings.trim_min_tokens)
        return trimmed.messages if trimmed is not None else job.history

    # -- messages ------------------------------------------------------------------
    def _cannot_shrink(self, job: _Job, size: int) -> str:
        window = self.window(job.provider)
        return (
            f"the conversation no longer fits the context window of {job.provider.model} "
            f"(about {size:,} tokens of {window:,}) and cannot be made smaller: the first message and the work in "
            "progress must stay whole. Nothing was lost: the whole conversation is kept in the session. "
            "Start a new conversation with /new, or switch to a model with a larger context window with /model."
        )

    def _summary_failed(self, job: _Job, result: CallResult) -> str:
        if result.status == "ok":
            why = "the model answered the summary request without any text"
        elif result.error_message:
            why = result.error_message
        else:
            why = call_failure_message(result, job.provider, result.stale_after)
        return (
            f"the conversation had to be compacted to fit the context window, but the summary request failed: {why} "
            "Nothing was lost: the conversation is kept as it was. Say 'continue' to try again, start a new "
            "conversation with /new, or switch to a model with a larger context window with /model."
        )


def _quiet(calls: Generator[AgentEvent, None, CallResult]) -> Generator[AgentEvent, None, CallResult]:
    """The summary call's events without its streamed text (it is not an answer to show)."""
    try:
        event = next(calls)
        while True:
            if event.kind not in _QUIET:
                yield event
            event = next(calls)
    except StopIteration as stop:
        result: CallResult = stop.value
        return result
    finally:
        calls.close()
