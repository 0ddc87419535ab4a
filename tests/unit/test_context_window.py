"""Window accounting: sizes from the provider's report, limits, and the sizes that
context-length errors name."""

from __future__ import annotations

import pytest

from agent.config import CompactionSettings
from agent.context.tokens import messages_tokens, text_tokens
from agent.context.window import (
    MIN_ANSWER_TOKENS,
    OverflowFacts,
    SizeAnchor,
    clamp_output,
    estimate,
    limits,
    measure,
    overflow_facts,
)
from agent.messages import user_message
from tests.context_helpers import task_history, tool_round

FIXED = 500


def test_without_a_report_the_size_is_our_estimate() -> None:
    history = task_history(3)
    size = measure(FIXED, history, None, "m")
    assert size.tokens == FIXED + messages_tokens(history) and not size.measured


def test_the_report_plus_the_new_messages_estimated() -> None:
    history = task_history(3)
    anchor = SizeAnchor(9_000, estimate(FIXED, history), tuple(history), "m")
    grown = history + tool_round(4)
    size = measure(FIXED, grown, anchor, "m")
    assert size.measured
    assert size.tokens == 9_000 + messages_tokens(tool_round(4))


def test_a_changed_history_is_estimated_with_the_reports_calibration() -> None:
    history = task_history(3)
    ours = estimate(FIXED, history)
    anchor = SizeAnchor(ours * 2, ours, tuple(history), "m")  # the tokenizer counts twice what we do
    shorter = [history[0], *history[3:]]  # a new list whose prefix is not the measured one
    size = measure(FIXED, shorter, anchor, "m")
    assert size.measured and size.tokens == estimate(FIXED, shorter) * 2


def test_rebuilt_messages_are_scaled_not_added() -> None:
    history = task_history(2)
    anchor = SizeAnchor(7_777, estimate(FIXED, history), tuple(history), "m")
    rebuilt = task_history(2)  # equal content in new objects (loaded from the session): no prefix match
    size = measure(FIXED, rebuilt, anchor, "m")
    assert size.measured and abs(size.tokens - 7_777) <= 1  # the calibration lands on the report


def test_another_models_report_does_not_count() -> None:
    history = task_history(2)
    anchor = SizeAnchor(99_999, estimate(FIXED, history), tuple(history), "other")
    assert measure(FIXED, history, anchor, "m").tokens == estimate(FIXED, history)


@pytest.mark.parametrize(
    ("window", "max_tokens", "threshold", "hard"),
    [
        (16_000, None, 12_800, 16_000 - MIN_ANSWER_TOKENS - 1_024),
        (200_000, None, 160_000, 200_000 - MIN_ANSWER_TOKENS - 1_024),
        # never closer to the limit than the request's own max_tokens plus the margin
        (16_000, 8_000, 16_000 - 8_000 - 1_024, 16_000 - 8_000 - 1_024),
        (200_000, 64_000, 200_000 - 64_000 - 1_024, 200_000 - 64_000 - 1_024),
        (200_000, 20_000, 160_000, 200_000 - 20_000 - 1_024),
    ],
)
def test_limits(window: int, max_tokens: int | None, threshold: int, hard: int) -> None:
    bounds = limits(window, CompactionSettings(), max_tokens)
    assert (bounds.threshold, bounds.hard) == (threshold, hard)
    assert bounds.trim_target < bounds.threshold


def test_the_threshold_is_configurable() -> None:
    assert limits(10_000, CompactionSettings(threshold=0.5), None).threshold == 5_000


@pytest.mark.parametrize(
    ("limit", "room", "expected"),
    [(None, 500, None), (8_000, 3_000, 3_000), (2_000, 3_000, 2_000), (8_000, -5, 1)],
)
def test_clamp_output(limit: int | None, room: int, expected: int | None) -> None:
    assert clamp_output(limit, room) == expected


@pytest.mark.parametrize(
    ("message", "facts"),
    [
        ("prompt is too long: 208499 tokens > 200000 maximum", OverflowFacts(208_499, 200_000)),
        (
            "input length and `max_tokens` exceed context limit: 195000 + 8192 > 200000, decrease input length "
            "or `max_tokens` and try again",
            OverflowFacts(195_000, 200_000),
        ),
        (
            "This model's maximum context length is 16385 tokens. However, you requested 17000 tokens "
            "(15000 in the messages, 2000 in the completion). Please reduce the length of the messages or completion.",
            OverflowFacts(15_000, 16_385),
        ),
        (
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 130512 "
            "tokens. Please reduce the length of the messages.",
            OverflowFacts(130_512, 128_000),
        ),
        ("This endpoint's maximum context length is 200,000 tokens.", OverflowFacts(None, 200_000)),
        ("request (4476 tokens) exceeds the available context size (4096 tokens)", OverflowFacts(4_476, 4_096)),
        ("Requested tokens (5000) exceed context window of 4096", OverflowFacts(5_000, 4_096)),
        ("the request exceeds the available context size, try increasing it", OverflowFacts()),
        ("overloaded", OverflowFacts()),
    ],
)
def test_sizes_named_by_context_length_errors(message: str, facts: OverflowFacts) -> None:
    assert overflow_facts(message) == facts


def test_estimates_are_deterministic_and_never_free() -> None:
    assert text_tokens("") == 0 and text_tokens("a") == 1 and text_tokens("abcd") == 1 and text_tokens("abcde") == 2
    message = user_message("x" * 400)
    assert messages_tokens([message]) == messages_tokens([user_message("x" * 400)]) > 100
