"""The summary request of a compaction: built from the plan, sent through the call path
the loop hands in, and made smaller (oldest messages left out, bounded) when the provider
says it is too long. Its streamed text never reaches the user: it is not an answer.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from typing import Literal

from agent.config import CompactionSettings
from agent.context.compaction import CompactionPlan, drop_points, summary_request
from agent.context.trimming import plan_trim
from agent.context.window import overflow_facts
from agent.events import AgentEvent, Notice
from agent.messages import Message
from agent.providers.base import ModelRequest, Provider
from agent.recovery.messages import call_failure_message
from agent.recovery.outcome import CallResult

Recover = Callable[[CallResult, ModelRequest], Generator[AgentEvent, None, "ModelRequest | None"]]
CallFn = Callable[[ModelRequest, "Recover | None"], Generator[AgentEvent, None, CallResult]]
Measure = Callable[[list[Message]], int]
_QUIET = frozenset({"text_delta", "thinking_delta", "tool_call_streaming"})
_MIN_SUMMARY_TOKENS = 256


Outcome = Literal["failed", "interrupted", "too_long"]


class Stop(Exception):
    """The turn cannot go on: ``outcome`` says how ("too_long": the request cannot be
    made to fit this model's window), the message says what to do."""

    def __init__(self, outcome: Outcome, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


@dataclass(slots=True)
class SummaryJob:
    """What one summary request needs: the history and the plan, the request it is
    built like, the provider and its window, a way to measure, and the call path."""

    history: list[Message]
    plan: CompactionPlan
    focus: str | None
    template: ModelRequest
    provider: Provider
    window: int
    settings: CompactionSettings
    measure: Measure
    call: CallFn

    @property
    def limit(self) -> int:
        """The summary's own output limit: small beside the window it must make room in."""
        ceiling = min(self.settings.summary_max_tokens, self.provider.max_output_tokens, self.window // 8)
        return max(_MIN_SUMMARY_TOKENS, ceiling)


def summarise(job: SummaryJob) -> Generator[AgentEvent, None, tuple[str, int | None]]:
    """The summary and what it cost (prompt plus output tokens, None when not reported);
    raises ``Stop`` when there is none."""
    room = job.window - job.limit - job.settings.margin_tokens
    history = _source(job, room)
    drops = [0, *drop_points(history, job.plan)]
    tries = {"choice": _fitting(job, history, drops, 0, room), "attempts": 1}

    def request_for(choice: int) -> ModelRequest:
        messages = summary_request(history, job.plan, dropped=drops[choice], focus=job.focus)
        return replace(job.template, messages=messages, max_tokens=job.limit)

    def smaller(result: CallResult, request: ModelRequest) -> Generator[AgentEvent, None, ModelRequest | None]:
        """Still too long for the provider: leave out more of the oldest part."""
        if tries["attempts"] >= job.settings.max_summary_attempts or tries["choice"] >= len(drops) - 1:
            return None
        tries["attempts"] += 1
        facts = overflow_facts(result.error.message if result.error else "")
        sent = job.measure(list(request.messages))
        too_long = facts.prompt_tokens if facts.prompt_tokens is not None else sent
        excess = max(too_long - room, sent // 4)  # by how much is unknown: a quarter less at least
        tries["choice"] = _fitting(job, history, drops, tries["choice"] + 1, sent - excess)
        yield Notice(f"the summary request was too long; leaving out the oldest {drops[tries['choice']]} messages")
        return request_for(tries["choice"])

    result = yield from _quiet(job.call(request_for(tries["choice"]), smaller))
    summary = result.text.strip()
    if result.status == "interrupted":
        raise Stop("interrupted", "interrupted by the user while the conversation was being compacted")
    if result.status != "ok" or not summary:
        raise Stop("failed", _failed(job, result))
    usage = result.usage
    reported = usage.prompt_tokens is not None or usage.output_tokens is not None
    spent = (usage.prompt_tokens or 0) + (usage.output_tokens or 0) if reported else None
    return summary, spent


def _source(job: SummaryJob, room: int) -> list[Message]:
    """The history the request is made of: as the model last saw it (its prompt cache then
    serves most of the request), or with every large tool result stubbed when that is too
    long (the older part is about to be replaced anyway)."""
    if job.measure(summary_request(job.history, job.plan, focus=job.focus)) <= room:
        return job.history
    trimmed = plan_trim(job.history, keep_rounds=0, min_tokens=job.settings.trim_min_tokens)
    return trimmed.messages if trimmed is not None else job.history


def _fitting(job: SummaryJob, history: list[Message], drops: list[int], start: int, ceiling: int) -> int:
    """The first choice of ``drops`` from ``start`` whose request fits ``ceiling``."""
    for choice in range(start, len(drops)):
        if job.measure(summary_request(history, job.plan, dropped=drops[choice], focus=job.focus)) <= ceiling:
            return choice
    return len(drops) - 1


def _failed(job: SummaryJob, result: CallResult) -> str:
    if result.status == "ok":
        why = "the model answered the summary request without any text."
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
    """The summary call's events without its streamed text."""
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
