"""An in-process provider that plays a script of model replies: no HTTP, no threads.

``ScriptedProvider`` satisfies the ``Provider`` protocol, so the loop cannot tell it
from a real wire. Each model call takes the next step of the script:

- a ``ScriptedReply`` (or a plain ``str``, short for ``ScriptedReply(text)``) is streamed
  as the neutral deltas a real wire adapter would yield;
- a callable receives the ``ModelRequest`` and returns the ``ScriptedReply`` (to answer
  from what the request holds, or to block and simulate a stall);
- an exception instance is raised by ``open_stream``: the call fails before streaming.

Every request is recorded in ``requests``; a call with no step left raises
``ScriptExhausted``. ``assert_complete()`` at the end of a test checks that the whole
script was used. The provider simulator (``agent.testing.simulator``) is the tool for
testing the wires themselves; this is for testing what sits above them.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, get_args

from agent.pricing import Prices
from agent.providers.base import ErrorFacts, ModelRequest, ProviderStream, ResetReport
from agent.providers.deltas import (
    Delta,
    StopChunk,
    StopReason,
    StreamEnd,
    TextChunk,
    ToolArgsChunk,
    ToolCallBegin,
    UsageChunk,
)

__all__ = ["ScriptExhausted", "ScriptStep", "ScriptedError", "ScriptedProvider", "ScriptedReply"]

WIRE = "scripted"
DEFAULT_MODEL = "scripted-model"
DEFAULT_CONTEXT_WINDOW = 200_000
_STOP_REASONS: tuple[str, ...] = get_args(StopReason)


@dataclass(frozen=True)
class ScriptedReply:
    """One model reply.

    ``tool_calls`` are ``(name, arguments)`` pairs; their ids are generated
    (``call_1``, ``call_2``... across the whole script). ``stop`` is the stop reason
    (``completed``, ``tool_calls``, ``truncated``, ``content_filter``, ``refusal``);
    None means ``tool_calls`` when there are calls, else ``completed``. ``usage`` is
    ``(input_tokens, output_tokens)``; None estimates both at four characters a token.
    ``error``, when set, is raised by the stream after the text and tool-call deltas,
    in place of the stop and end deltas: a stream cut mid-reply.
    """

    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    stop: str | None = None
    usage: tuple[int, int] | None = None
    error: BaseException | None = None

    def __post_init__(self) -> None:
        if self.stop is not None and self.stop not in _STOP_REASONS:
            raise ValueError(f"unknown stop reason {self.stop!r}; use one of {', '.join(_STOP_REASONS)}")

    @property
    def stop_reason(self) -> StopReason:
        """The stop reason the stream reports."""
        if self.stop is not None:
            return self.stop  # type: ignore[return-value]  # checked in __post_init__
        return "tool_calls" if self.tool_calls else "completed"


ScriptStep = ScriptedReply | str | Callable[[ModelRequest], ScriptedReply] | BaseException
"""One entry of a script: a reply, its text, a function of the request, or a failure."""


class ScriptExhausted(AssertionError):
    """The code under test made a model call the script did not plan for."""


class ScriptedError(Exception):
    """A scripted failure that reports the given ``ErrorFacts`` (for instance a
    retryable ``transport`` error or an ``http_status`` 429); any other exception
    reports ``ErrorFacts("other", ...)``, which the retry policy does not retry."""

    def __init__(self, facts: ErrorFacts) -> None:
        super().__init__(facts.message)
        self.facts = facts


class ScriptedStream:
    """The stream of one scripted reply; ``close`` stops the iteration early."""

    def __init__(self, deltas: list[Delta], error: BaseException | None) -> None:
        self.deltas = deltas
        self._error = error
        self.closed = False

    def __iter__(self) -> Iterator[Delta]:
        """Yield the reply's deltas, then raise its ``error`` if it has one."""
        for delta in self.deltas:
            if self.closed:
                return
            yield delta
        if self._error is not None and not self.closed:
            raise self._error

    def close(self) -> None:
        """Stop yielding deltas (the owner of a stream always closes it)."""
        self.closed = True


class ScriptedProvider:
    """A ``Provider`` that answers from a script instead of a server.

    ``chunk_size`` splits text and tool-call arguments into pieces of that many
    characters (None: one piece each). ``accepts_prefill`` plays a model that continues
    a prefill (Claude before 4.6); by default a cut reply is continued with a runtime
    note. ``prices`` (``agent.cost.Prices``) lets a test see costs; without them the
    cost is unknown. ``requests`` holds every ``ModelRequest`` in order, ``resets`` the
    caller of every ``reset`` and ``streams`` every stream opened.
    """

    name = "scripted"
    wire = WIRE
    base_url = ""
    is_local = True

    def __init__(
        self,
        steps: Iterable[ScriptStep] = (),
        *,
        model: str = DEFAULT_MODEL,
        context_window: int = DEFAULT_CONTEXT_WINDOW,
        max_output_tokens: int | None = None,
        chunk_size: int | None = None,
        accepts_prefill: bool = False,
        prices: Prices | None = None,
    ) -> None:
        if chunk_size is not None and chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self.model = model
        self.context_window = context_window
        self.stale_timeout: float | None = None  # the agent's own limit applies
        self.first_token_timeout: float | None = None
        self.notices: list[str] = []
        self.reasoning = False
        # False (like Claude 4.6+): a cut reply is continued with a runtime note, not a prefill.
        self.accepts_prefill = accepts_prefill
        self.prices = prices
        self._default_limit = max_output_tokens  # what a request without max_tokens gets
        self.max_output_tokens = max_output_tokens or 8_192  # the ceiling a raised retry may ask for
        self.chunk_size = chunk_size
        self.requests: list[ModelRequest] = []
        self.resets: list[str] = []
        self.streams: list[ScriptedStream] = []
        self.closed = False
        self._steps: deque[ScriptStep] = deque(steps)
        self._total = len(self._steps)
        self._next_call_id = 1
        self._lock = threading.Lock()  # open_stream runs in the loop's worker threads

    # -- the script --------------------------------------------------------------------
    def add(self, *steps: ScriptStep) -> None:
        """Append steps to the script."""
        with self._lock:
            self._steps.extend(steps)
            self._total += len(steps)

    @property
    def remaining(self) -> int:
        """How many steps are still unused."""
        return len(self._steps)

    def assert_complete(self) -> None:
        """Raise ``AssertionError`` if some steps were never used."""
        if self._steps:
            used = self._total - len(self._steps)
            raise AssertionError(
                f"ScriptedProvider: {len(self._steps)} of {self._total} scripted steps unused "
                f"(the code under test made {used} model call{'' if used == 1 else 's'})"
            )

    # -- the Provider protocol ---------------------------------------------------------
    def open_stream(self, request: ModelRequest) -> ProviderStream:
        """Record the request, take the next step and return its stream (or raise it)."""
        with self._lock:
            self.requests.append(request)
            if not self._steps:
                raise ScriptExhausted(
                    f"ScriptedProvider: model call #{len(self.requests)} has no scripted step "
                    f"left (the script had {self._total})"
                )
            step = self._steps.popleft()
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, str):
            reply = ScriptedReply(step)
        elif isinstance(step, ScriptedReply):
            reply = step
        else:
            reply = step(request)
            if not isinstance(reply, ScriptedReply):
                raise TypeError(f"a scripted step function must return a ScriptedReply, not {type(reply).__name__}")
        stream = ScriptedStream(self._deltas(reply, request), reply.error)
        self.streams.append(stream)
        return stream

    def reset(self, caller: str) -> ResetReport:
        """Count the reset and stop every stream opened so far."""
        self.resets.append(caller)
        for stream in self.streams:
            stream.close()
        return ResetReport(WIRE, caller, ok=True, detail="scripted provider: streams closed")

    def error_facts(self, exc: BaseException) -> ErrorFacts:
        """``ScriptedError`` reports its own facts; anything else is ``other``."""
        if isinstance(exc, ScriptedError):
            return exc.facts
        if isinstance(exc, ScriptExhausted):
            return ErrorFacts("other", f"script exhausted: {exc}", error_type="script_exhausted")
        return ErrorFacts("other", str(exc) or type(exc).__name__)

    def output_limit(self, request: ModelRequest) -> int | None:
        """The request's explicit limit, else the ``max_output_tokens`` given (if any)."""
        return request.max_tokens if request.max_tokens is not None else self._default_limit

    def close(self) -> None:
        """Mark the provider closed (there is nothing to release)."""
        self.closed = True

    # -- deltas ------------------------------------------------------------------------
    def _deltas(self, reply: ScriptedReply, request: ModelRequest) -> list[Delta]:
        deltas: list[Delta] = [TextChunk(piece) for piece in self._pieces(reply.text)]
        output_chars = len(reply.text)
        for slot, (name, arguments) in enumerate(reply.tool_calls):
            with self._lock:
                call_id = f"call_{self._next_call_id}"
                self._next_call_id += 1
            deltas.append(ToolCallBegin(slot, call_id, name))
            text = json.dumps(arguments, ensure_ascii=False)
            output_chars += len(name) + len(text)
            deltas.extend(ToolArgsChunk(slot, piece) for piece in self._pieces(text))
        if reply.error is not None:
            return deltas  # the stream breaks before the model says why it stopped
        input_tokens, output_tokens = reply.usage or (_estimate_input(request), (output_chars + 3) // 4)
        deltas.append(StopChunk(reply.stop_reason, reply.stop_reason))
        deltas.append(UsageChunk(input_tokens, output_tokens))
        deltas.append(StreamEnd())
        return deltas

    def _pieces(self, text: str) -> list[str]:
        if not text:
            return []
        size = self.chunk_size or len(text)
        return [text[start : start + size] for start in range(0, len(text), size)]


def _estimate_input(request: ModelRequest) -> int:
    chars = len(request.system) + len(request.prefill or "")
    for message in request.messages:
        chars += len(message.text) + sum(len(json.dumps(c.arguments)) for c in message.tool_calls)
        chars += sum(len(r.content) for r in message.tool_results)
    return (chars + 3) // 4
