"""The one retry policy: a pure function from error facts to a decision.

SDK retries are off; nothing else in the project retries a model call. Transient
failures are retried at once on a fresh connection; overload and rate limits after a
backoff that honours ``retry-after``; everything else fails at once (and may fall
through to a fallback provider).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from agent.providers.base import ErrorFacts

# SSE error messages that mean "the connection broke", not "the request is wrong".
CONNECTION_PHRASES = (
    "network connection lost",
    "upstream connect error",
    "connection reset",
    "connection closed",
    "connection terminated",
    "peer closed",
    "broken pipe",
)
_BACKOFF_STATUSES = frozenset({408, 409, 429})
_BACKOFF_ERROR_TYPES = frozenset({"overloaded_error", "rate_limit_error", "api_error", "timeout_error"})
_CONTEXT_PHRASES = (
    "context length",
    "context limit",  # Anthropic: "input length and `max_tokens` exceed context limit"
    "context window",
    "too many tokens",
    "prompt is too long",
    "maximum context",
)
_POLICY_PHRASES = ("content policy", "content_policy", "safety system", "flagged")
BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0
STALE_BREAKER = 3

Action = Literal["retry", "fail"]
FailureClass = Literal[
    "transient",
    "overloaded",
    "auth",
    "model_not_found",
    "context_length",
    "content_policy",
    "bad_request",
    "other",
]


@dataclass(frozen=True, slots=True)
class RetryDecision:
    action: Action
    delay: float
    reason: str
    failure: FailureClass


def is_connection_message(message: str) -> bool:
    lowered = message.lower()
    return any(phrase in lowered for phrase in CONNECTION_PHRASES)


def classify(facts: ErrorFacts) -> FailureClass:
    """What kind of failure this is, independent of the attempt count."""
    if facts.kind in ("transport", "timeout", "stale", "incomplete_stream"):
        return "transient"
    message = facts.message.lower()
    if facts.kind == "sse_error" and is_connection_message(message):
        return "transient"
    if any(p in message for p in _CONTEXT_PHRASES) or facts.status == 413:
        return "context_length"
    if any(p in message for p in _POLICY_PHRASES):
        return "content_policy"
    status = facts.status
    if status in (401, 403) or facts.error_type in ("authentication_error", "permission_error"):
        return "auth"
    if status == 404 or facts.error_type == "not_found_error":
        return "model_not_found"
    if status in _BACKOFF_STATUSES or (status is not None and status >= 500):
        return "overloaded"
    if facts.error_type in _BACKOFF_ERROR_TYPES:
        return "overloaded"
    if status is not None and 400 <= status < 500:
        return "bad_request"
    return "other"


def decide(
    facts: ErrorFacts,
    attempt: int,
    max_attempts: int,
    consecutive_stalls: int = 0,
    rand: Callable[[], float] = random.random,
) -> RetryDecision:
    """``attempt`` is the number of the attempt that just failed (from 1)."""
    failure = classify(facts)
    if failure not in ("transient", "overloaded"):
        return RetryDecision("fail", 0.0, f"not retried: {describe(facts)}", failure)
    if facts.kind == "stale" and consecutive_stalls >= STALE_BREAKER:
        return RetryDecision("fail", 0.0, f"{consecutive_stalls} stalls in a row on this provider", failure)
    if attempt >= max_attempts:
        return RetryDecision("fail", 0.0, f"gave up after {attempt} attempts: {describe(facts)}", failure)
    if failure == "transient":
        return RetryDecision("retry", 0.0, describe(facts), failure)
    if facts.retry_after is not None:
        delay = facts.retry_after
    else:
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        delay = ceiling / 2 + rand() * ceiling / 2  # jitter keeps clients from retrying in lockstep
    return RetryDecision("retry", delay, describe(facts), failure)


def describe(facts: ErrorFacts) -> str:
    if facts.kind == "stale":
        return facts.message
    if facts.kind == "http_status":
        kind = f" {facts.error_type}" if facts.error_type else ""
        return f"HTTP {facts.status}{kind}: {facts.message}"
    if facts.kind == "sse_error":
        kind = facts.error_type or (f"code {facts.status}" if facts.status else "error")
        return f"error event in the stream ({kind}): {facts.message}"
    if facts.kind == "incomplete_stream":
        return facts.message
    return f"connection problem: {facts.message}"
