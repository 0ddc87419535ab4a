"""The one retry policy: a pure function from error facts and a call's budgets to a decision.

SDK retries are off; nothing else in the project retries a model call. Two budgets:

- **transient** failures (stalls, resets, "Network connection lost.") get a small number
  of attempts, each retried at once on a fresh connection;
- **overload** and rate limits (429, 503, 529, 5xx, ``overloaded_error``,
  ``rate_limit_error``) keep being retried, after a backoff that honours the server's
  advice, until a time budget per model call is spent (0: they share the attempt budget).

With a fallback configured, a provider that is broken rather than busy is given up on
early: the second stall in a row, or the second overload of one call, hands the call to
the fallback. Everything else fails at once (and may fall through to a fallback).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from agent.providers.base import ErrorFacts

# Error messages that mean "the connection broke", not "the request is wrong" (an SSE
# error event, or a gateway's own words for an upstream it could not reach).
CONNECTION_PHRASES = (
    "network connection lost",
    "upstream connect error",
    "connection reset",
    "connection closed",
    "connection terminated",
    "peer closed",
    "broken pipe",
    "apiconnectionerror",  # litellm.APIConnectionError
    "connection error.",  # LiteLLM and the OpenAI SDK: "Connection error."
    "response payload is not completed",  # aiohttp behind a LiteLLM proxy
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
# A validator's refusal of the request body, whatever the status: llama-cpp-python
# sends FastAPI's "7 validation errors:" dump as a 500 (pydantic itself says "N
# validation errors for MODEL"). Retrying cannot help.
_REQUEST_REFUSED = re.compile(r"\b\d+ validation errors?\b")
# Servers that cannot stream a request say so (llama-cpp-python's function-calling
# formats: "Automatic streaming tool choice is not supported"); the same request
# without streaming works.
_STREAMING_REFUSED_PHRASES = (
    "streaming tool choice is not supported",
    "streaming is not supported",
    "stream is not supported",
    "does not support streaming",
    "streaming not supported",
)
_AUTH_TYPES = frozenset({"authentication_error", "permission_error"})
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
STALE_BREAKER = 3
DEFAULT_OVERLOAD_BUDGET = 300.0  # seconds of waiting out a busy provider, per model call
ESCALATE_AFTER = 2  # with a fallback: stalls in a row, or overloads of one call

Action = Literal["retry", "fail"]
FailureClass = Literal[
    "transient",
    "overloaded",
    "auth",
    "model_not_found",
    "wrong_url",
    "context_length",
    "content_policy",
    "bad_request",
    "other",
]


@dataclass(frozen=True, slots=True)
class RetryBudget:
    """Where one model call stands, the failure just seen included."""

    transient_failures: int = 0  # failures that used the attempt budget
    max_attempts: int = 3
    overloads: int = 0  # overload failures of this call
    overload_elapsed: float = 0.0  # seconds since the first overload of this call
    overload_budget: float = DEFAULT_OVERLOAD_BUDGET
    consecutive_stalls: int = 0  # on this provider, across calls
    has_fallback: bool = False


@dataclass(frozen=True, slots=True)
class RetryDecision:
    action: Action
    delay: float
    reason: str
    failure: FailureClass
    budget_left: float | None = None  # seconds of the overload budget after this wait
    escalate: bool = False  # given up early because a fallback can take the call


def is_connection_message(message: str) -> bool:
    lowered = message.lower()
    return any(phrase in lowered for phrase in CONNECTION_PHRASES)


def _said(facts: ErrorFacts, phrases: tuple[str, ...]) -> bool:
    lowered = facts.message.lower()
    return any(phrase in lowered for phrase in phrases)


def _too_long(facts: ErrorFacts) -> bool:
    codes = {facts.error_type, facts.error_code}
    return bool(codes & _CONTEXT_CODES) or facts.status == 413 or _said(facts, _CONTEXT_PHRASES)


def _not_found(facts: ErrorFacts) -> bool:
    return facts.status == 404 or facts.error_type == "not_found_error"


# The one classification table, first match wins: (failure, test, why).
_CLASSES: tuple[tuple[FailureClass, Callable[[ErrorFacts], bool], str], ...] = (
    (
        "transient",
        lambda f: f.kind in ("transport", "timeout", "stale", "incomplete_stream", "malformed_stream"),
        "the connection broke",
    ),
    (
        "transient",
        lambda f: f.error_type in (None, "api_error") and _said(f, CONNECTION_PHRASES),
        "an error event or a gateway's words for a dropped connection",
    ),
    ("context_length", _too_long, "the request is longer than the model's context window"),
    ("content_policy", lambda f: _said(f, _POLICY_PHRASES), "refused under a content policy"),
    (
        "bad_request",
        lambda f: _REQUEST_REFUSED.search(f.message) is not None,
        "a validator refused the body (llama-cpp-python sends its dump as a 500): the same body fails again",
    ),
    ("bad_request", lambda f: _said(f, _STREAMING_REFUSED_PHRASES), "the server cannot stream this request"),
    ("auth", lambda f: f.status in (401, 403) or f.error_type in _AUTH_TYPES, "the credentials were refused"),
    ("model_not_found", lambda f: _not_found(f) and _about_a_model(f), "no such model"),
    ("wrong_url", _not_found, "nothing at that URL"),
    ("bad_request", lambda f: f.error_type == "invalid_request_error", "the upstream's own word, whatever the status"),
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


def unstreamed_retry(
    facts: ErrorFacts, *, streaming: bool, local: bool, nothing_received: bool
) -> Literal["refused", "empty"] | None:
    """Why to send a failed streamed request again without streaming, or None.
    "refused": the server said it cannot stream it. "empty": a server on this machine
    ended a 200 stream with nothing in it; it gives its own error (a prompt over its
    context, say) only to a request that does not stream."""
    if not streaming:
        return None
    if any(p in facts.message.lower() for p in _STREAMING_REFUSED_PHRASES):
        return "refused"
    if local and nothing_received and facts.kind == "incomplete_stream":
        return "empty"
    return None


def _about_a_model(facts: ErrorFacts) -> bool:
    """A 404 that names a model (or comes typed) is about the model; a bare "Not Found"
    from a gateway or web server means the URL itself is wrong."""
    return facts.error_type is not None or "model" in facts.message.lower()


def decide(facts: ErrorFacts, budget: RetryBudget, rand: Callable[[], float] = random.random) -> RetryDecision:
    """Whether and when to retry the attempt that just failed."""
    failure = classify(facts)
    if failure not in ("transient", "overloaded"):
        return RetryDecision("fail", 0.0, f"not retried: {describe(facts)}", failure)
    stalls = budget.consecutive_stalls
    if facts.kind == "stale" and budget.has_fallback and stalls >= ESCALATE_AFTER:
        return RetryDecision(
            "fail", 0.0, f"{stalls} stalls in a row; handing the call to the fallback", failure, escalate=True
        )
    if facts.kind == "stale" and stalls >= STALE_BREAKER:
        return RetryDecision("fail", 0.0, f"{stalls} stalls in a row on this provider", failure)
    if failure == "overloaded" and budget.overload_budget > 0:
        return _overload(facts, budget, rand)
    if budget.transient_failures >= budget.max_attempts:
        attempts = budget.transient_failures
        return RetryDecision("fail", 0.0, f"gave up after {attempts} attempts: {describe(facts)}", failure)
    if failure == "transient":
        return RetryDecision("retry", 0.0, describe(facts), failure)
    return RetryDecision("retry", _backoff(facts, budget.transient_failures, rand), describe(facts), failure)


def _overload(facts: ErrorFacts, budget: RetryBudget, rand: Callable[[], float]) -> RetryDecision:
    """A busy provider is waited out for as long as the time budget lasts."""
    what = describe(facts)
    if budget.has_fallback and budget.overloads >= ESCALATE_AFTER:
        reason = f"overloaded {budget.overloads} times; handing the call to the fallback ({what})"
        return RetryDecision("fail", 0.0, reason, "overloaded", escalate=True)
    left = budget.overload_budget - budget.overload_elapsed
    if left <= 0:
        return RetryDecision(
            "fail", 0.0, f"still busy after {budget.overload_elapsed:.0f} s of retrying ({what})", "overloaded"
        )
    delay = _backoff(facts, budget.overloads, rand)
    if facts.retry_after is not None and facts.retry_after > left:
        reason = (
            f"the provider asks to wait {facts.retry_after:.0f} s, more than the {left:.0f} s left to wait ({what})"
        )
        return RetryDecision("fail", 0.0, reason, "overloaded")
    delay = min(delay, left)
    return RetryDecision("retry", delay, what, "overloaded", budget_left=left - delay)


def _backoff(facts: ErrorFacts, failures: int, rand: Callable[[], float]) -> float:
    if facts.retry_after is not None:
        return facts.retry_after
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** max(0, failures - 1))
    return ceiling / 2 + rand() * ceiling / 2  # jitter keeps clients from retrying in lockstep


def describe(facts: ErrorFacts) -> str:
    """The failure in one line (a server's multi-line dump included)."""
    return " ".join(_describe(facts).split())


def _describe(facts: ErrorFacts) -> str:
    if facts.kind == "stale":
        return facts.message
    if facts.kind == "http_status":
        kind = f" {facts.error_type}" if facts.error_type else ""
        return f"HTTP {facts.status}{kind}: {facts.message}"
    if facts.kind == "sse_error":
        kind = facts.error_type or (f"code {facts.status}" if facts.status else "error")
        return f"error event in the stream ({kind}): {facts.message}"
    if facts.kind in ("incomplete_stream", "malformed_stream"):
        return facts.message
    return f"connection problem: {facts.message}"
