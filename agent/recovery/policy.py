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
# Context-length errors, by source (PROTOCOL-NOTES.md): Anthropic 400 "prompt is too long:
# N tokens > M maximum" and "input length and `max_tokens` exceed context limit"; OpenAI
# code context_length_exceeded; OpenRouter and vLLM "maximum context length is N tokens";
# llama.cpp "request (N tokens) exceeds the available context size" (type
# exceed_context_size_error); llama-cpp-python "Requested tokens (N) exceed context window".
# llama.cpp's streamed answer to an over-long prompt, [DONE] and nothing else, is an
# incomplete stream (retried): the same empty stream also happens for passing reasons.
_CONTEXT_PHRASES = (
    "prompt is too long",
    "exceed context limit",
    "maximum context length",
    "exceeds the available context size",
    "exceed context window",
    "context length",
    "context limit",  # Anthropic: "input length and `max_tokens` exceed context limit"
    "context window",
    "too many tokens",
    "maximum context",
)
_CONTEXT_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error"})
_POLICY_PHRASES = ("content policy", "content_policy", "safety system", "flagged")
_AUTH_TYPES = frozenset({"authentication_error", "permission_error"})
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


def _said(facts: ErrorFacts, phrases: tuple[str, ...]) -> bool:
    lowered = facts.message.lower()
    return any(phrase in lowered for phrase in phrases)


def _too_long(facts: ErrorFacts) -> bool:
    codes = {facts.error_type, facts.error_code}
    return bool(codes & _CONTEXT_CODES) or facts.status == 413 or _said(facts, _CONTEXT_PHRASES)


# The one classification table, first match wins: (failure, test, why).
_CLASSES: tuple[tuple[FailureClass, Callable[[ErrorFacts], bool], str], ...] = (
    ("transient", lambda f: f.kind in ("transport", "timeout", "stale", "incomplete_stream"), "the connection broke"),
    ("transient", lambda f: f.kind == "sse_error" and _said(f, CONNECTION_PHRASES), "a stream error that is a drop"),
    ("context_length", _too_long, "the request is longer than the model's context window"),
    ("content_policy", lambda f: _said(f, _POLICY_PHRASES), "refused under a content policy"),
    ("auth", lambda f: f.status in (401, 403) or f.error_type in _AUTH_TYPES, "the credentials were refused"),
    ("model_not_found", lambda f: f.status == 404 or f.error_type == "not_found_error", "no such model"),
    ("overloaded", lambda f: f.status in _BACKOFF_STATUSES or (f.status or 0) >= 500, "overload or rate limit"),
    ("overloaded", lambda f: f.error_type in _BACKOFF_ERROR_TYPES, "an overload error in the stream"),
    ("bad_request", lambda f: f.status is not None and 400 <= f.status < 500, "the request was refused"),
)


def classify(facts: ErrorFacts) -> FailureClass:
    """What kind of failure this is, independent of the attempt count."""
    for failure, test, _why in _CLASSES:
        if test(facts):
            return failure
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
