"""The retry policy is a pure function: facts in, decision out."""

from __future__ import annotations

import pytest

from agent.providers.base import ErrorFacts
from agent.providers.common import retry_after_seconds
from agent.recovery.policy import CONNECTION_PHRASES, classify, decide, is_connection_message


def no_jitter() -> float:
    return 1.0


@pytest.mark.parametrize("kind", ["transport", "timeout", "stale", "incomplete_stream"])
def test_transient_failures_retry_at_once(kind: str) -> None:
    decision = decide(ErrorFacts(kind, "x"), attempt=1, max_attempts=3)  # type: ignore[arg-type]
    assert decision.action == "retry" and decision.delay == 0.0


@pytest.mark.parametrize(
    "message",
    [
        "Network connection lost.",
        "upstream connect error or disconnect/reset",
        "peer closed connection",
        "Connection reset by peer",
        "broken pipe",
        "connection terminated",
    ],
)
def test_sse_connection_errors_retry_at_once(message: str) -> None:
    decision = decide(ErrorFacts("sse_error", message, status=502), 1, 3)
    assert decision.action == "retry" and decision.delay == 0.0
    assert is_connection_message(message)


def test_phrase_list_stays_small() -> None:
    assert len(CONNECTION_PHRASES) <= 10


def test_non_connection_sse_error_is_not_retried() -> None:
    facts = ErrorFacts("sse_error", "Invalid tool schema", error_type="invalid_request_error")
    assert decide(facts, 1, 3).action == "fail"


def test_overloaded_event_backs_off_exponentially_with_jitter() -> None:
    facts = ErrorFacts("sse_error", "Overloaded", error_type="overloaded_error")
    first = decide(facts, 1, 5, rand=no_jitter)
    third = decide(facts, 3, 5, rand=no_jitter)
    assert first.action == "retry" and first.delay == pytest.approx(1.0)
    assert third.delay == pytest.approx(4.0)
    assert decide(facts, 10, 20, rand=no_jitter).delay == pytest.approx(30.0)
    assert decide(facts, 1, 5, rand=lambda: 0.0).delay == pytest.approx(0.5)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 529])
def test_retryable_statuses(status: int) -> None:
    assert decide(ErrorFacts("http_status", "x", status=status), 1, 3).action == "retry"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    assert decide(ErrorFacts("http_status", "x", status=status), 1, 3).action == "fail"


def test_retry_after_is_honoured_and_capped() -> None:
    facts = ErrorFacts("http_status", "slow down", status=429, retry_after=7.0)
    assert decide(facts, 1, 3).delay == 7.0
    assert retry_after_seconds({"retry-after": "500"}) == 120.0
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_budget_is_spent_after_max_attempts() -> None:
    decision = decide(ErrorFacts("transport", "reset"), 3, 3)
    assert decision.action == "fail" and "3 attempts" in decision.reason


def test_stale_circuit_breaker_fails_fast() -> None:
    decision = decide(ErrorFacts("stale", "silent"), 1, 10, consecutive_stalls=3)
    assert decision.action == "fail" and "stalls in a row" in decision.reason


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (ErrorFacts("http_status", "invalid x-api-key", status=401), "auth"),
        (
            ErrorFacts("http_status", "model: foo", status=404, error_type="not_found_error"),
            "model_not_found",
        ),
        (ErrorFacts("http_status", "prompt is too long: 250000 tokens", status=400), "context_length"),
        (ErrorFacts("http_status", "flagged by our content policy", status=400), "content_policy"),
        (ErrorFacts("http_status", "bad field", status=422), "bad_request"),
    ],
)
def test_classification(facts: ErrorFacts, expected: str) -> None:
    assert classify(facts) == expected


@pytest.mark.parametrize(
    "facts",
    [
        ErrorFacts("http_status", "prompt is too long: 208499 tokens > 200000 maximum", 400, None, "invalid_request"),
        ErrorFacts(
            "http_status",
            "input length and `max_tokens` exceed context limit: 195000 + 8192 > 200000, decrease input length",
            400,
            None,
            "invalid_request_error",
        ),
        ErrorFacts("http_status", "Please reduce the length.", 400, error_code="context_length_exceeded"),
        ErrorFacts("http_status", "This endpoint's maximum context length is 200000 tokens. However, ...", 400),
        ErrorFacts("sse_error", "This model's maximum context length is 4096 tokens", 400),  # vLLM in a stream
        ErrorFacts(
            "http_status",
            "request (4476 tokens) exceeds the available context size (4096 tokens)",
            400,
            None,
            "exceed_context_size_error",
        ),
        ErrorFacts("http_status", "Requested tokens (5000) exceed context window of 4096", 400),
        ErrorFacts("http_status", "Request Entity Too Large", 413),
    ],
)
def test_context_length_errors_of_every_source(facts: ErrorFacts) -> None:
    assert classify(facts) == "context_length"
    assert decide(facts, 1, 3).action == "fail"  # never retried as it is: the loop makes room first


def test_an_ordinary_cut_stream_is_still_transient() -> None:
    assert classify(ErrorFacts("incomplete_stream", "the stream ended without its terminal event")) == "transient"
