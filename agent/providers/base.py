"""The provider protocol and the facts it reports about its errors.

A provider talks to one wire, owns its SDK client's life (see ``connection.py``) and
turns SDK exceptions into ``ErrorFacts`` for the retry policy. The loop only ever sees
this protocol, never a concrete wire.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from agent.messages import Message
from agent.pricing import Prices
from agent.providers.deltas import Delta

ErrorKind = Literal[
    "http_status",  # the server answered with an error status before streaming
    "sse_error",  # an error event inside a 200 stream
    "transport",  # connection refused/reset/closed, incomplete chunked read...
    "timeout",  # a socket-level timeout from the HTTP client
    "stale",  # our stale detector killed the stream
    "incomplete_stream",  # the body ended without the wire's terminal event
    "malformed_stream",  # the body carried data that is not what the wire promises (broken JSON)
    "other",
]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelRequest:
    """What the loop asks for; the provider turns it into its wire's request.

    ``prefill`` is the start of the reply, already shown to the user, that the model is
    to continue as its own words; only set for a provider whose ``accepts_prefill`` is
    true (models that cannot take a prefill get a runtime note in ``messages`` instead).
    ``max_tokens`` is an explicit limit (user setting or a raised retry); None lets the
    provider decide from its profile and the model catalog. ``cache_key`` is stable for
    a conversation (a hash, never a secret); a provider whose endpoint accepts one sends
    it so that the conversation's requests reach the same prompt cache. ``cache_anchors``
    are indexes into ``messages`` whose prefix stays byte-identical while the conversation
    grows (the end of the stubbed tool output); a provider that places cache breakpoints
    puts one there, so a later request still reads that prefix after trimming advances.
    """

    model: str
    system: str
    messages: list[Message]
    tools: list[ToolSpec] = field(default_factory=list)
    max_tokens: int | None = None
    prefill: str | None = None
    stream: bool = True
    cache_key: str | None = None
    cache_anchors: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ErrorFacts:
    """What a provider tells the retry policy about a failure: its kind, message, HTTP status,
    retry-after, error type and code, and whether visible output had been delivered."""

    kind: ErrorKind
    message: str
    status: int | None = None
    retry_after: float | None = None
    error_type: str | None = None
    output_emitted: bool = False
    # The request did not fit (input + max_tokens > window) and this max_tokens would:
    # read from Anthropic's "input length and `max_tokens` exceed context limit" error.
    fitting_max_tokens: int | None = None
    url: str | None = None  # the URL that was requested, for errors that say it is wrong
    error_code: str | None = None  # a wire's own error code (OpenAI ``context_length_exceeded``)


@dataclass(frozen=True, slots=True)
class ResetReport:
    wire: str
    caller: str
    ok: bool
    detail: str = ""
    sockets_shut: int = 0


class ProviderStream(Protocol):
    """One streamed response. Iterated in the worker thread; ``close`` by its owner."""

    def __iter__(self) -> Iterator[Delta]: ...

    def close(self) -> None: ...


class Provider(Protocol):
    name: str  # profile name: anthropic, openai, openrouter, custom
    wire: str  # anthropic_messages | chat_completions
    model: str
    base_url: str
    is_local: bool  # a loopback or private endpoint (local servers get longer stale limits)
    context_window: int  # from the model catalog
    max_output_tokens: int  # the model's real output limit, from the catalog
    stale_timeout: float | None  # this provider's own stall limit (config file); None: the agent's
    first_token_timeout: float | None  # its own limit before the first token; None: as above
    reasoning: bool  # thinks before it answers (catalog): a longer default first-token limit
    accepts_prefill: bool  # a request may end with the reply's own start, which the model continues
    notices: list[str]  # what the user should hear about this provider; the chain says each once
    prices: Prices | None  # dollars per million tokens at this provider's cache TTL; None: unknown

    def open_stream(self, request: ModelRequest) -> ProviderStream:
        """Send the request and return its stream (blocks until response headers)."""
        ...

    def reset(self, caller: str) -> ResetReport:
        """Kill every in-flight read of this provider's client and rebuild the client.
        The one connection-reset path: stale detector, retry, interrupt and fallback."""
        ...

    def error_facts(self, exc: BaseException) -> ErrorFacts: ...

    def output_limit(self, request: ModelRequest) -> int | None:
        """The ``max_tokens`` this provider would send for ``request``."""
        ...

    def close(self) -> None: ...


class IncompleteStreamError(Exception):
    """The response body ended before the wire's terminal event."""


class StreamErrorEvent(Exception):
    """An error reported inside a 200 stream (an SSE error event or error chunk)."""

    def __init__(self, message: str, code: object = None, error_type: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.error_type = error_type


class MalformedStreamError(Exception):
    """The stream carried data that is not what its wire promises (e.g. broken JSON)."""


class StaleStreamError(Exception):
    """Raised into the attempt by the stale detector (never by the network)."""
