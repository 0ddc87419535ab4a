"""ContextKeeper with a fake call path: when it trims, when it asks for a summary and
what it does with the answer, overflow recovery, and the clear end when nothing helps."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import pytest

from agent.config import CompactionSettings
from agent.context.compaction import SUMMARY_REQUEST_MARK
from agent.context.keeper import ContextKeeper, Prepared, Recover
from agent.context.state import SUMMARY_MARK, ContextState
from agent.context.trimming import is_stub
from agent.events import AgentEvent, ModelCallFinished, ModelCallStarted, TextDelta
from agent.messages import TextPart, user_message
from agent.providers.base import ErrorFacts, ModelRequest
from agent.recovery.outcome import CallResult
from agent.recovery.policy import RetryDecision
from agent.testing import ScriptedProvider
from tests.context_helpers import pairs_intact, task_history, tool_round

WINDOW = 16_000
Step = CallResult | Callable[[ModelRequest], CallResult]


def ok(text: str) -> CallResult:
    return CallResult("ok", [TextPart(text)], "completed")


def overflow(message: str = "prompt is too long: 20000 tokens > 16000 maximum") -> CallResult:
    facts = ErrorFacts("http_status", message, 400, error_type="invalid_request_error")
    return CallResult("failed", [], error=facts, decision=RetryDecision("fail", 0.0, message, "context_length"))


class FakeCalls:
    """Plays the loop's call path: each request takes the next step; a context-length
    failure goes to ``recover`` first, as ``_call_with_fallbacks`` does."""

    def __init__(self, *steps: Step) -> None:
        self.steps: deque[Step] = deque(steps)
        self.requests: list[ModelRequest] = []

    def __call__(self, request: ModelRequest, recover: Recover | None) -> Generator[AgentEvent, None, CallResult]:
        while True:
            self.requests.append(request)
            step = self.steps.popleft()
            result = step(request) if callable(step) else step
            yield ModelCallStarted(1, 1, "fake", request.model)
            yield TextDelta(result.text)  # a summary streams too; it must not reach the user
            too_long = result.decision is not None and result.decision.failure == "context_length"
            if too_long and recover is not None:
                retry = yield from recover(result, request)
                if retry is not None:
                    request = retry
                    continue
            return result


def template(max_tokens: int | None = None) -> ModelRequest:
    return ModelRequest(model="fake-model", system="", messages=[], max_tokens=max_tokens)


def provider(window: int = WINDOW, output: int | None = None) -> ScriptedProvider:
    return ScriptedProvider(model="fake-model", context_window=window, max_output_tokens=output)


def run(gen: Generator[AgentEvent, None, Any]) -> tuple[list[AgentEvent], Any]:
    events: list[AgentEvent] = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            return events, stop.value


def kinds(events: list[AgentEvent]) -> list[str]:
    return [e.kind for e in events]


@pytest.fixture
def saved() -> list[ContextState]:
    return []


@pytest.fixture
def keeper(saved: list[ContextState]) -> ContextKeeper:
    return ContextKeeper(CompactionSettings(), persist=saved.append)


def test_below_the_threshold_nothing_happens(keeper: ContextKeeper, saved: list[ContextState]) -> None:
    history = task_history(3)
    calls = FakeCalls()
    events, prepared = run(keeper.prepare(history, template(), provider(), calls))
    assert kinds(events) == ["context_fill"] and prepared == Prepared(None)
    assert events[0].tokens < WINDOW * 0.8 and not events[0].measured
    assert calls.requests == [] and saved == []


def test_trimming_alone_when_it_makes_enough_room(keeper: ContextKeeper, saved: list[ContextState]) -> None:
    history = task_history(30, output_chars=2_000)  # ~15k tokens, mostly old tool output
    first = history[0]
    events, prepared = run(keeper.prepare(history, template(), provider(), FakeCalls()))
    assert kinds(events) == ["context_trimmed", "context_fill"] and prepared.outcome == "ready"
    trimmed = events[0]
    assert trimmed.results == 25 and trimmed.tokens_after < trimmed.tokens_before
    assert history[0] is first and pairs_intact(history)
    assert sum(is_stub(r.content) for m in history for r in m.tool_results) == 25
    assert saved and len(saved[-1].stubbed) == 25


def test_compaction_when_trimming_is_not_enough(keeper: ContextKeeper, saved: list[ContextState]) -> None:
    history = task_history(75, output_chars=600)  # many small rounds: nothing worth stubbing
    summary = "## Goal and constraints\nprocess all parts\n## Next steps\npart 61"
    calls = FakeCalls(ok(summary))
    events, prepared = run(keeper.prepare(history, template(), provider(), calls))
    assert prepared.outcome == "ready"
    assert "compacted" in kinds(events) and "text_delta" not in kinds(events)
    request = calls.requests[0]
    assert request.messages[-1].text.startswith(SUMMARY_REQUEST_MARK)
    assert "data/part_001.txt" in str([m.to_dict() for m in request.messages])  # the older history goes along
    compacted = next(e for e in events if e.kind == "compacted")
    assert compacted.reason == "threshold" and compacted.tokens_after < compacted.tokens_before * 0.5
    assert compacted.messages > 60 and compacted.summary_tokens > 0
    assert history[0].text == "Process every part." and history[1].text.startswith(SUMMARY_MARK)
    assert summary in history[1].text and pairs_intact(history)
    assert saved[-1].last is not None and saved[-1].last.summary == summary
    assert keeper.turn.compactions == 1


def test_a_summary_request_that_is_too_long_drops_its_oldest_part(keeper: ContextKeeper) -> None:
    history = task_history(75, output_chars=600)
    calls = FakeCalls(overflow("prompt is too long: 15500 tokens > 16000 maximum"), ok("the summary"))
    events, prepared = run(keeper.prepare(history, template(), provider(), calls))
    assert prepared.outcome == "ready" and len(calls.requests) == 2
    first, second = calls.requests
    assert len(second.messages) < len(first.messages)
    assert second.messages[0] is first.messages[0] and pairs_intact(list(second.messages))
    assert "oldest messages" in second.messages[-1].text
    assert any("leaving out the oldest" in getattr(e, "message", "") for e in events)


def test_a_summary_request_that_never_fits_gives_up_bounded(keeper: ContextKeeper) -> None:
    history = task_history(75, output_chars=600)
    calls = FakeCalls(overflow(), overflow(), overflow(), overflow())
    events, prepared = run(keeper.prepare(history, template(), provider(), calls))
    assert len(calls.requests) == CompactionSettings().max_summary_attempts
    # the request itself still fits under the window: the turn goes on, with a warning
    assert prepared.outcome == "ready"
    warning = next(e for e in events if e.kind == "notice" and e.level == "warning")
    assert "summary request failed" in warning.message


def test_when_nothing_can_be_removed_the_turn_ends_clearly(keeper: ContextKeeper) -> None:
    history = [user_message("x" * 70_000)]  # the first message alone outgrows the window
    before = [m.to_dict() for m in history]
    _, prepared = run(keeper.prepare(history, template(), provider(), FakeCalls()))
    assert prepared.outcome == "too_long"
    error = prepared.error or ""
    assert "cannot be made smaller" in error and "/new" in error and "/model" in error
    assert "Nothing was lost" in error
    assert [m.to_dict() for m in history] == before  # everything kept


def test_a_failed_summary_keeps_everything_and_goes_on_when_the_request_fits(keeper: ContextKeeper) -> None:
    history = task_history(77, output_chars=560)  # over the threshold, still under the window
    before = [m.to_dict() for m in history]
    failed = CallResult("failed", [], error=ErrorFacts("http_status", "boom", 500))
    events, prepared = run(keeper.prepare(history, template(), provider(), FakeCalls(failed)))
    assert prepared.outcome == "ready"
    assert any(e.kind == "notice" and e.level == "warning" for e in events)
    assert [m.to_dict() for m in history] == before


def test_an_interrupted_summary_ends_the_turn_as_interrupted(keeper: ContextKeeper) -> None:
    history = task_history(75, output_chars=600)
    calls = FakeCalls(CallResult("interrupted", []))
    _, prepared = run(keeper.prepare(history, template(), provider(), calls))
    assert prepared.outcome == "interrupted"


def test_overflow_recovery_compacts_and_retries_once(keeper: ContextKeeper) -> None:
    history = task_history(40, output_chars=600)  # under the threshold by our estimate
    calls = FakeCalls(ok("summary after the overflow"))
    recover = keeper.overflow_recovery(history, template(), provider, calls)
    request = ModelRequest(model="fake-model", system="", messages=list(history))
    error = overflow("prompt is too long: 17000 tokens > 16000 maximum")
    events, retry = run(recover(error, request))
    assert retry is not None and len(retry.messages) < len(request.messages)
    assert retry.messages[1].text.startswith(SUMMARY_MARK)
    assert next(e for e in events if e.kind == "compacted").reason == "overflow"
    _, again = run(recover(error, retry))
    assert again is None  # one retry; then the fallback chain decides


def test_overflow_recovery_that_cannot_shrink_says_so() -> None:
    keeper = ContextKeeper(CompactionSettings())
    history = [user_message("y" * 70_000)]
    recover = keeper.overflow_recovery(history, template(), provider, FakeCalls())
    error = overflow()
    _, retry = run(recover(error, ModelRequest(model="fake-model", system="", messages=list(history))))
    assert retry is None and "/model" in (error.error_message or "")


def test_an_error_naming_a_smaller_window_is_believed(keeper: ContextKeeper) -> None:
    history = task_history(20, output_chars=600)
    recover = keeper.overflow_recovery(history, template(), provider, FakeCalls(ok("s")))
    error = overflow("request (9000 tokens) exceeds the available context size (8192 tokens)")
    run(recover(error, ModelRequest(model="fake-model", system="", messages=list(history))))
    assert keeper.window(provider()) == 8_192


def test_the_report_anchors_the_next_measurement(keeper: ContextKeeper) -> None:
    history = task_history(3)
    run(keeper.prepare(history, template(), provider(), FakeCalls()))
    keeper.observe(ModelCallStarted(1, 1, "fake", "fake-model"))
    keeper.observe(ModelCallFinished("tool_calls", 4_000, 20, 1_000, 0))
    history.extend(tool_round(4))
    events, _ = run(keeper.prepare(history, template(), provider(), FakeCalls()))
    fill = events[-1]
    assert fill.measured and fill.tokens > 5_000 and fill.tokens < 5_700


def test_the_output_limit_is_lowered_to_the_room_left(keeper: ContextKeeper) -> None:
    history = task_history(18, output_chars=600)  # about 3.7k tokens
    events, prepared = run(keeper.prepare(history, template(), provider(output=14_000), FakeCalls()))
    room = WINDOW - events[-1].tokens - CompactionSettings().margin_tokens
    assert prepared.max_tokens == room
    _, roomy = run(keeper.prepare(history, template(), provider(output=2_000), FakeCalls()))
    assert roomy.max_tokens is None  # the provider's own limit fits: the request is not changed


def test_disabled_never_trims_nor_compacts() -> None:
    keeper = ContextKeeper(CompactionSettings(enabled=False))
    history = task_history(80, output_chars=2_000)
    events, prepared = run(keeper.prepare(history, template(), provider(), FakeCalls()))
    assert kinds(events) == ["context_fill"] and events[0].fraction > 1 and prepared.outcome == "ready"
    recover = keeper.overflow_recovery(history, template(), provider, FakeCalls())
    _, retry = run(recover(overflow(), ModelRequest(model="fake-model", system="", messages=list(history))))
    assert retry is None


def test_manual_compaction_with_a_focus(keeper: ContextKeeper) -> None:
    history = task_history(8, output_chars=600)
    calls = FakeCalls(ok("focused summary"))
    events, prepared = run(keeper.compact(history, template(), provider(), calls, "the parser"))
    assert prepared.outcome == "ready" and "the parser" in calls.requests[0].messages[-1].text
    assert next(e for e in events if e.kind == "compacted").reason == "manual"
    _, nothing = run(keeper.compact([user_message("hi")], template(), provider(), FakeCalls(), None))
    assert nothing.outcome == "ready" and "nothing to compact" in (nothing.error or "")


def test_events_of_the_summary_call_pass_except_its_text(keeper: ContextKeeper) -> None:
    history = task_history(75, output_chars=600)
    events, _ = run(keeper.prepare(history, template(), provider(), FakeCalls(ok("s"))))
    assert "model_call_started" in kinds(events) and "text_delta" not in kinds(events)


def test_state_given_at_start_is_used() -> None:
    state = ContextState(stubbed={"call_1": 3})
    keeper = ContextKeeper(CompactionSettings(), state)
    assert keeper.state is state
    keeper.reset()
    assert keeper.state == ContextState()


def test_no_retry_when_nothing_changed_and_the_output_limit_was_already_fitted(keeper: ContextKeeper) -> None:
    history = [user_message("q")]
    recover = keeper.overflow_recovery(history, template(), lambda: provider(200_000), FakeCalls())
    message = "input length and `max_tokens` exceed context limit: 190000 + 64000 > 200000"
    facts = ErrorFacts("http_status", message, 400, fitting_max_tokens=9_744)
    error = CallResult("failed", [], error=facts, decision=RetryDecision("fail", 0.0, message, "context_length"))
    _, retry = run(recover(error, ModelRequest(model="fake-model", system="", messages=list(history))))
    assert retry is None and history == [history[0]]  # the call path already tried a fitting max_tokens
