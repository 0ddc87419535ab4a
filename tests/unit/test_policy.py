"""The retry policy is a pure function: facts and budgets in, decision out."""

from __future__ import annotations

import pytest

from agent.providers.base import ErrorFacts
from agent.providers.error_text import embedded_error, read_error, retry_advice, retry_after_seconds
from agent.recovery.policy import CONNECTION_PHRASES, RetryBudget, classify, decide, describe, is_connection_message


def no_jitter() -> float:
    return 1.0


def transient(failures: int, max_attempts: int = 3, **extra: object) -> RetryBudget:
    return RetryBudget(transient_failures=failures, max_attempts=max_attempts, **extra)  # type: ignore[arg-type]


def busy(overloads: int, elapsed: float = 0.0, budget: float = 300.0, **extra: object) -> RetryBudget:
    return RetryBudget(overloads=overloads, overload_elapsed=elapsed, overload_budget=budget, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["transport", "timeout", "stale", "incomplete_stream"])
def test_transient_failures_retry_at_once(kind: str) -> None:
    decision = decide(ErrorFacts(kind, "x"), transient(1))  # type: ignore[arg-type]
    assert decision.action == "retry" and decision.delay == 0.0 and decision.budget_left is None


@pytest.mark.parametrize(
    "message",
    [
        "Network connection lost.",
        "upstream connect error or disconnect/reset",
        "peer closed connection",
        "Connection reset by peer",
        "broken pipe",
        "connection terminated",
        "litellm.APIConnectionError: AnthropicException - Connection error.",
        "Response payload is not completed",
    ],
)
def test_connection_errors_retry_at_once(message: str) -> None:
    decision = decide(ErrorFacts("sse_error", message, status=502), transient(1))
    assert decision.action == "retry" and decision.delay == 0.0
    assert is_connection_message(message)


def test_a_gateways_connection_error_is_transient_even_as_an_http_500() -> None:
    facts = ErrorFacts("http_status", "litellm.APIConnectionError: Connection error.", status=500)
    assert classify(facts) == "transient"


def test_phrase_list_stays_small() -> None:
    assert len(CONNECTION_PHRASES) <= 12


def test_non_connection_sse_error_is_not_retried() -> None:
    facts = ErrorFacts("sse_error", "Invalid tool schema", error_type="invalid_request_error")
    assert decide(facts, transient(1)).action == "fail"


def test_the_transient_budget_is_spent_after_max_attempts() -> None:
    decision = decide(ErrorFacts("transport", "reset"), transient(3))
    assert decision.action == "fail" and "3 attempts" in decision.reason


# --- the time budget of a busy provider ------------------------------------------------------


def test_overload_backs_off_exponentially_with_jitter_within_the_time_budget() -> None:
    facts = ErrorFacts("sse_error", "Overloaded", error_type="overloaded_error")
    first = decide(facts, busy(1), rand=no_jitter)
    third = decide(facts, busy(3, elapsed=10), rand=no_jitter)
    assert first.action == "retry" and first.delay == pytest.approx(1.0) and first.budget_left == pytest.approx(299)
    assert third.delay == pytest.approx(4.0)
    assert decide(facts, busy(20, elapsed=100), rand=no_jitter).delay == pytest.approx(60.0)  # the cap
    assert decide(facts, busy(1), rand=lambda: 0.0).delay == pytest.approx(0.5)


def test_a_busy_provider_is_retried_far_past_the_attempt_count() -> None:
    facts = ErrorFacts("http_status", "Overloaded", status=529, error_type="overloaded_error")
    assert decide(facts, busy(12, elapsed=200), rand=no_jitter).action == "retry"


def test_the_time_budget_runs_out() -> None:
    facts = ErrorFacts("http_status", "slow down", status=429)
    decision = decide(facts, busy(9, elapsed=301))
    assert decision.action == "fail" and "still busy after 301 s" in decision.reason


def test_the_last_wait_is_cut_to_what_is_left_of_the_budget() -> None:
    facts = ErrorFacts("http_status", "Overloaded", status=529)
    decision = decide(facts, busy(10, elapsed=295), rand=no_jitter)
    assert decision.action == "retry" and decision.delay == pytest.approx(5.0) and decision.budget_left == 0


def test_advice_longer_than_the_budget_fails_now_and_says_so() -> None:
    facts = ErrorFacts("http_status", "slow down", status=429, retry_after=600.0)
    decision = decide(facts, busy(1, elapsed=10))
    assert decision.action == "fail" and "asks to wait 600 s" in decision.reason


def test_a_zero_budget_turns_overloads_back_into_counted_attempts() -> None:
    facts = ErrorFacts("http_status", "busy", status=503)
    assert decide(facts, RetryBudget(transient_failures=1, overload_budget=0), rand=no_jitter).action == "retry"
    assert decide(facts, RetryBudget(transient_failures=3, overload_budget=0)).action == "fail"


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 529])
def test_retryable_statuses(status: int) -> None:
    assert decide(ErrorFacts("http_status", "x", status=status), busy(1)).action == "retry"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    assert decide(ErrorFacts("http_status", "x", status=status), busy(1)).action == "fail"


# --- early escalation with a fallback --------------------------------------------------------


def test_with_a_fallback_the_second_stall_in_a_row_escalates() -> None:
    stall = ErrorFacts("stale", "silent")
    assert decide(stall, transient(1, consecutive_stalls=1, has_fallback=True)).action == "retry"
    second = decide(stall, transient(2, consecutive_stalls=2, has_fallback=True))
    assert second.action == "fail" and second.escalate and "fallback" in second.reason


def test_without_a_fallback_stalls_use_the_attempt_budget() -> None:
    stall = ErrorFacts("stale", "silent")
    assert decide(stall, transient(2, max_attempts=5, consecutive_stalls=2)).action == "retry"
    breaker = decide(stall, transient(1, max_attempts=10, consecutive_stalls=3))
    assert breaker.action == "fail" and "stalls in a row" in breaker.reason


def test_with_a_fallback_the_second_overload_escalates() -> None:
    facts = ErrorFacts("http_status", "Service Unavailable", status=503)
    assert decide(facts, busy(1, has_fallback=True), rand=no_jitter).action == "retry"
    second = decide(facts, busy(2, has_fallback=True))
    assert second.action == "fail" and second.escalate


# --- classification ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (ErrorFacts("http_status", "invalid x-api-key", status=401), "auth"),
        (
            ErrorFacts("http_status", "model: foo", status=404, error_type="not_found_error"),
            "model_not_found",
        ),
        (ErrorFacts("http_status", "The model `gpt-9` does not exist", status=404), "model_not_found"),
        (ErrorFacts("http_status", "Not Found", status=404), "wrong_url"),
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
    assert decide(facts, transient(1)).action == "fail"  # never retried as it is: the loop makes room first


def test_an_ordinary_cut_stream_is_still_transient() -> None:
    assert classify(ErrorFacts("incomplete_stream", "the stream ended without its terminal event")) == "transient"


def test_multi_line_errors_are_described_on_one_line() -> None:
    facts = ErrorFacts("http_status", "7 validation errors:\n  content\n    Input should be a valid string", status=500)
    assert "\n" not in describe(facts) and "7 validation errors: content Input" in describe(facts)


# --- server advice ----------------------------------------------------------------------------


def test_retry_after_in_every_form() -> None:
    assert retry_after_seconds({"retry-after": "7"}) == 7.0
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"llm_provider-retry-after": "5"}) == 5.0  # forwarded by a LiteLLM proxy
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"retry-after": "999999"}) == 3600.0  # a sanity cap; the budget decides


def test_retry_after_as_an_http_date() -> None:
    import email.utils
    import time

    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    value = retry_after_seconds({"retry-after": date})
    assert value is not None and 25 < value <= 31


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("Rate limit reached for gpt-4o. Please try again in 20s.", 20.0),
        ("litellm.RateLimitError: cooldown. Try again in 5 seconds", 5.0),
        ("please retry after 1.5 seconds", 1.5),
        ("Please try again in 350ms", 0.35),
        ("try again in 2 minutes", 120.0),
        ("Overloaded", None),
    ],
)
def test_advice_in_the_error_text(text: str, seconds: float | None) -> None:
    assert retry_advice(None, text) == (pytest.approx(seconds) if seconds is not None else None)


def test_headers_win_over_text() -> None:
    assert retry_advice({"retry-after": "3"}, "try again in 20s") == 3.0


def test_an_upstream_error_embedded_in_a_gateways_message_is_read_for_its_type() -> None:
    message = (
        'litellm.BadRequestError: AnthropicException - {"type":"error","error":{"type":"invalid_request_error",'
        '"message":"messages.0.content: Field required"}}'
    )
    assert embedded_error(message) == ("invalid_request_error", "messages.0.content: Field required")
    kind, text = read_error({"error": {"message": message, "type": None, "code": "400"}}, "")
    assert kind == "invalid_request_error"
    # A gateway's 500 around the upstream's 400: not worth retrying.
    assert classify(ErrorFacts("http_status", text, status=500, error_type=kind)) == "bad_request"


def test_openrouter_wrapped_upstream_errors_are_unwrapped() -> None:
    body = {
        "error": {
            "message": "Provider returned error",
            "code": 400,
            "metadata": {"raw": '{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}'},
        }
    }
    assert read_error(body, "") == ("invalid_request_error", "bad")
