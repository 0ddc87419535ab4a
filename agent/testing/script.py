"""The simulator's scripting vocabulary and its records.

Every item is wire-neutral: the same :class:`Reply` renders onto whichever wire the request
came in on (Anthropic Messages or OpenAI chat completions, plain or OpenRouter flavour).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

Wire = Literal["anthropic", "openai"]
# Local servers on the chat-completions wire, each under its own base path (local_servers.py).
LocalFlavour = Literal["llamacpp-python", "llama-server", "vllm", "ollama"]
Flavour = Literal["anthropic", "openai", "openrouter", "llamacpp-python", "llama-server", "vllm", "ollama"]

KNOWN_QUIRKS = frozenset({"reuse_index_zero", "repeat_ids", "resend_name"})
NEUTRAL_STOPS = ("end_turn", "tool_use", "max_tokens", "refusal", "content_filter")


# --- content items -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    """Assistant text, streamed as deltas of ``chunk`` characters (0 = a single delta).

    Consecutive ``Text`` items continue the same text block (control items in between
    included), so ``Text("a"), Silence(3), Text("b")`` stalls in the middle of one block.
    """

    text: str
    chunk: int = 0


@dataclass(frozen=True, slots=True)
class Thinking:
    """A reasoning block: Anthropic ``thinking`` (+ signature), OpenAI ``reasoning_content``,
    OpenRouter ``reasoning``."""

    text: str
    signature: str = "sig-simulated"
    chunk: int = 0


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call. A dict is JSON-encoded; a str is sent verbatim (may be broken JSON)."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None
    chunk: int = 0


# --- control and fault items ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Silence:
    """Send nothing for ``seconds``, watching for the client closing the connection."""

    seconds: float


@dataclass(frozen=True, slots=True)
class KeepAlives:
    """For ``seconds``, send only keep-alives (Anthropic ``ping``; SSE comments on OpenAI)."""

    seconds: float
    every: float = 0.5


@dataclass(frozen=True, slots=True)
class Pace:
    """From here on, wait ``seconds`` before every following SSE event (0 turns it off)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Reset:
    """Abort the TCP connection (SO_LINGER 0, then close: the client gets an RST)."""


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Close the socket without the final zero-length chunk (incomplete chunked read)."""


@dataclass(frozen=True, slots=True)
class EndBody:
    """End the HTTP body properly right here, without any terminal SSE event."""


@dataclass(frozen=True, slots=True)
class SseError:
    """A mid-stream error event in the wire's shape, then a properly ended body.

    On a non-streaming request it becomes an HTTP error with status ``code``.
    """

    message: str = "Network connection lost."
    type: str = "api_error"
    code: int = 502


@dataclass(frozen=True, slots=True)
class RawSSE:
    """Bytes sent verbatim. As a whole script item: the entire SSE body (no framing added).
    Inside a :class:`Reply`: injected verbatim at that point of the stream.
    ``chunk_size`` > 0 splits them into HTTP chunks of that many bytes."""

    data: bytes
    chunk_size: int = 0


ContentItem: TypeAlias = Text | Thinking | ToolCall
ControlItem: TypeAlias = Silence | KeepAlives | Pace | Reset | Disconnect | EndBody | SseError | RawSSE
Item: TypeAlias = ContentItem | ControlItem
_ITEM_TYPES = (
    Text,
    Thinking,
    ToolCall,
    Silence,
    KeepAlives,
    Pace,
    Reset,
    Disconnect,
    EndBody,
    SseError,
    RawSSE,
)


@dataclass(frozen=True, init=False)
class Reply:
    """A successful (HTTP 200) response, streamed or not depending on the request.

    ``stop`` is neutral ("end_turn" | "tool_use" | "max_tokens" | "refusal" |
    "content_filter"); None picks "tool_use" when the reply has tool calls, else "end_turn".
    Any other string is passed through verbatim as the wire's stop/finish reason.
    ``delay_headers`` (an addition) waits that long before the status line is sent,
    watching for the client closing the connection: a stall before the first byte.
    ``after_terminal`` (Reset or Disconnect) breaks the connection right after the wire's
    terminal event (``message_stop`` / ``[DONE]``) instead of ending the body properly.
    ``stop_details`` is sent with an Anthropic stop reason (e.g. a refusal's category and
    explanation).
    ``usage`` is ``(input_tokens, output_tokens)`` reported as given (no cache figures);
    None (the default) reports what the request would cost: the prompt estimated at four
    characters a token and split by the simulator's prompt cache, the output estimated
    from the reply's content.
    """

    items: tuple[Item, ...]
    stop: str | None
    usage: tuple[int, int] | None
    model: str | None
    quirks: frozenset[str]
    headers: Mapping[str, str]
    delay_headers: float
    after_terminal: Reset | Disconnect | None
    stop_details: Mapping[str, Any] | None

    def __init__(
        self,
        *items: Item,
        stop: str | None = None,
        usage: tuple[int, int] | None = None,
        model: str | None = None,
        quirks: Iterable[str] = frozenset(),
        headers: Mapping[str, str] | None = None,
        delay_headers: float = 0.0,
        after_terminal: Reset | Disconnect | None = None,
        stop_details: Mapping[str, Any] | None = None,
    ) -> None:
        for item in items:
            if not isinstance(item, _ITEM_TYPES):
                raise TypeError(f"Reply item must be a scripting item, got {item!r}")
        quirk_set = frozenset(quirks)
        unknown = quirk_set - KNOWN_QUIRKS
        if unknown:
            raise ValueError(f"unknown quirks: {sorted(unknown)}")
        object.__setattr__(self, "items", tuple(items))
        object.__setattr__(self, "stop", stop)
        object.__setattr__(self, "usage", None if usage is None else (int(usage[0]), int(usage[1])))
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "quirks", quirk_set)
        object.__setattr__(self, "headers", dict(headers or {}))
        object.__setattr__(self, "delay_headers", float(delay_headers))
        object.__setattr__(self, "after_terminal", after_terminal)
        object.__setattr__(self, "stop_details", dict(stop_details) if stop_details is not None else None)

    def output_tokens(self) -> int:
        """The output to report: the scripted figure, else the content at four
        characters a token."""
        if self.usage is not None:
            return self.usage[1]
        chars = 0
        for item in self.items:
            if isinstance(item, Text | Thinking):
                chars += len(item.text)
            elif isinstance(item, ToolCall):
                chars += len(item.arguments if isinstance(item.arguments, str) else json.dumps(item.arguments))
        return max(1, -(-chars // 4))

    def neutral_stop(self) -> str:
        if self.stop is not None:
            return self.stop
        return "tool_use" if any(isinstance(i, ToolCall) for i in self.items) else "end_turn"


@dataclass(frozen=True, slots=True)
class HttpError:
    """An HTTP error response in the wire's JSON error shape.

    ``type`` defaults per status and wire; ``body`` (dict, str or bytes) replaces the JSON.
    """

    status: int
    message: str = "simulated error"
    type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


# --- records -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the simulator received it: wire, path, headers, JSON body, TCP connection,
    arrival time, and the validation message if it was refused."""

    index: int
    wire: Wire
    flavour: Flavour
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    connection_id: int
    received_at: float
    rejected: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """One TCP connection the simulator accepted, and when and by whom it was closed."""

    connection_id: int
    peer: tuple[str, int]
    opened_at: float
    closed_at: float | None = None
    closed_by: Literal["client", "server"] | None = None
    request_count: int = 0


Outcome: TypeAlias = Reply | HttpError | RawSSE
ScriptItem: TypeAlias = Outcome | Callable[[RecordedRequest], Outcome]


def is_script_item(item: object) -> bool:
    return isinstance(item, (Reply, HttpError, RawSSE)) or callable(item)
