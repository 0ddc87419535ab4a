"""The OpenAI chat-completions wire (OpenAI, OpenRouter, vLLM, llama.cpp, Ollama...)
through the ``openai`` SDK."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from agent.messages import Message, TextPart, ToolCallPart, ToolResultPart, new_call_id, parse_arguments
from agent.providers.base import (
    ErrorFacts,
    ErrorKind,
    IncompleteStreamError,
    ModelRequest,
    ProviderStream,
    StreamErrorEvent,
)
from agent.providers.caching import anchor_prefixes, mark_chat
from agent.providers.deltas import (
    Delta,
    KeepAlive,
    StopChunk,
    StopReason,
    StreamEnd,
    TextChunk,
    ThinkingChunk,
    ToolArgsChunk,
    ToolCallBegin,
    UsageChunk,
)
from agent.providers.error_text import body_error, read_error, retry_advice, upstream_error
from agent.providers.lease import LeasedStream
from agent.providers.provider_base import ProviderBase
from agent.providers.server_errors import fitting_output, one_line_server_error
from agent.providers.server_info import window_in_error
from agent.providers.sse import iter_sse, json_object

WIRE = "chat_completions"
_FINISH_REASONS: dict[str, StopReason] = {
    "stop": "completed",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "length": "truncated",
    "content_filter": "content_filter",
}
_NO_KEY = "no-key"
_MAX_CALL_ID = 40  # OpenAI refuses longer tool-call ids (string_above_max_length)


class ChatCompletionsProvider(ProviderBase):
    wire = WIRE

    def _build_client(self, on_request: Callable[[Any], None]) -> Any:
        import openai

        return openai.OpenAI(
            api_key=self._api_key or _NO_KEY,
            base_url=self.base_url or None,
            max_retries=0,  # the agent owns retries: one policy, one budget
            timeout=self._timeout,
            default_headers=self.profile.request_headers(self.model_info),
            http_client=self._http_client(on_request),
        )

    def open_stream(self, request: ModelRequest) -> ProviderStream:
        params = self.build_params(request)
        headers = self.cache_headers(request)
        if headers:
            params["extra_headers"] = headers
        # A local server cuts at its full context when it had no other limit: that cut
        # is "context_full", which is never continued (it would overflow again).
        full = self.cut_means_full_context(request, params.get(self.profile.max_tokens_field))
        if request.stream:
            params["stream"] = True
            params["stream_options"] = {"include_usage": True}
            translate: Callable[[Any], Iterator[Delta]] = partial(stream_deltas, context_cut=full)
        else:
            translate = partial(completion_deltas, context_cut=full)
        return LeasedStream(self._connection, lambda c: c.chat.completions.create(**params), translate)

    def build_params(self, request: ModelRequest) -> dict[str, Any]:
        content = self.profile.tool_call_content
        messages = to_wire_messages(request.system, request.messages, None, content)
        if self._breakpoints:
            convert = partial(to_wire_messages, request.system, prefill=None, tool_call_content=content)
            mark_chat(messages, self.caching.ttl, anchor_prefixes(request.messages, request.cache_anchors, convert))
        if request.prefill:
            _append_prefill(messages, request.prefill)
        params: dict[str, Any] = {"model": request.model, "messages": messages}
        limit = self.output_limit(request)
        if limit is not None:
            params[self.profile.max_tokens_field] = limit
        if request.tools:
            params["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.schema},
                }
                for t in request.tools
            ]
            if self.profile.sends_tool_choice:
                params["tool_choice"] = "auto"
        if request.cache_key and self._cache_key_mode == "body":
            params["prompt_cache_key"] = request.cache_key
        return params

    def cache_headers(self, request: ModelRequest) -> dict[str, str]:
        """Per-request headers: OpenRouter's sticky-routing session id for the cache key."""
        if request.cache_key and self._cache_key_mode == "session_header":
            return {"x-session-id": request.cache_key}
        return {}

    def error_facts(self, exc: BaseException) -> ErrorFacts:
        import openai

        common = self.common_error_facts(exc)
        if common is not None:
            return common
        if isinstance(exc, openai.APITimeoutError):
            return ErrorFacts("timeout", str(exc))
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__
            error_kind: ErrorKind = (
                "timeout" if cause is not None and "Timeout" in type(cause).__name__ else "transport"
            )
            return ErrorFacts(error_kind, f"{exc} ({type(cause).__name__}: {cause})" if cause else str(exc))
        if isinstance(exc, openai.APIStatusError):
            error_type, text = read_error(exc.body, str(exc))
            text = one_line_server_error(text)
            self.learn_window(window_in_error(text))  # llama-cpp-python says it nowhere else
            advice = retry_advice(exc.response.headers, text)
            url = str(exc.response.request.url)
            fits = fitting_output(text)  # vLLM names the room left for max_tokens
            wire_code = _code(body_error(upstream_error(exc.body))[2])
            return ErrorFacts(
                "http_status",
                text,
                exc.status_code,
                advice,
                error_type,
                url=url,
                error_code=wire_code,
                fitting_max_tokens=fits,
            )
        if isinstance(exc, StreamErrorEvent):  # an error chunk inside a 200 stream
            status = exc.code if isinstance(exc.code, int) else _int_or_none(exc.code)
            error_type, text = read_error({"error": {"type": exc.error_type, "message": exc.message}}, exc.message)
            return ErrorFacts(
                "sse_error", text, status, retry_advice(None, text), error_type, error_code=_code(exc.code)
            )
        if isinstance(exc, openai.APIError):
            _, _, code = body_error(exc.body)
            error_type, text = read_error(exc.body, exc.message)
            return ErrorFacts(
                "sse_error", text, _int_or_none(code), retry_advice(None, text), error_type, error_code=_code(code)
            )
        return ErrorFacts("other", f"{type(exc).__name__}: {exc}")


def _code(value: object) -> str | None:
    """A textual error code (``context_length_exceeded``); numeric codes are statuses."""
    return value if isinstance(value, str) and not value.isdigit() else None


def _int_or_none(value: object) -> int | None:
    if value is None:
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


# -- conversion: neutral -> wire ---------------------------------------------------
def wire_call_id(call_id: str) -> str:
    """A tool-call id every chat endpoint accepts: at most 40 characters (OpenAI's
    limit). Longer ids (from other servers) map to a stable digest of themselves."""
    if call_id and len(call_id) <= _MAX_CALL_ID:
        return call_id
    return "call_" + hashlib.sha256(call_id.encode()).hexdigest()[:24]


def to_wire_messages(
    system: str, messages: list[Message], prefill: str | None, tool_call_content: str | None = ""
) -> list[dict[str, Any]]:
    """Neutral history to chat messages. Thinking is not sent back on this wire.
    ``tool_call_content`` is the content of an assistant message with tool calls and
    no text (the profile's choice: "" or None for JSON null)."""
    wire: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        if message.role == "tool":
            for result in message.tool_results:
                wire.append(
                    {"role": "tool", "tool_call_id": wire_call_id(result.call_id), "content": _result_text(result)}
                )
            text = message.text
            if text:
                wire.append({"role": "user", "content": text})
        elif message.role == "assistant":
            entry = _assistant(message, tool_call_content)
            if entry is not None:
                wire.append(entry)
        elif message.text:
            wire.append({"role": "user", "content": message.text})
    if prefill:
        _append_prefill(wire, prefill)
    return wire


def _append_prefill(wire: list[dict[str, Any]], prefill: str) -> None:
    """Only for endpoints that pass it on to a model that continues it."""
    wire.append({"role": "assistant", "content": prefill.rstrip()})


def _result_text(result: ToolResultPart) -> str:
    return f"Error: {result.content}" if result.is_error else result.content


def _assistant(message: Message, tool_call_content: str | None) -> dict[str, Any] | None:
    text = "".join(p.text for p in message.parts if isinstance(p, TextPart))
    calls = [p for p in message.parts if isinstance(p, ToolCallPart)]
    if not text and not calls:
        return None
    entry: dict[str, Any] = {"role": "assistant", "content": text or tool_call_content}
    if calls:
        entry["tool_calls"] = [
            {
                "id": wire_call_id(c.call_id),
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments, ensure_ascii=False)},
            }
            for c in calls
        ]
    return entry


# -- conversion: wire -> deltas ----------------------------------------------------
@dataclass(slots=True)
class _OpenCall:
    slot: int
    call_id: str | None
    name: str
    arguments: str = ""


class _ToolCallSlots:
    """Maps chat tool-call fragments to calls, robust to servers that reuse index 0 for
    a new call, repeat the id on every fragment, or resend the name."""

    def __init__(self) -> None:
        self._by_index: dict[int, _OpenCall] = {}
        self._next_slot = 0

    def feed(self, fragment: dict[str, Any]) -> Iterator[Delta]:
        index = fragment.get("index") or 0
        call_id = fragment.get("id") or None
        function = fragment.get("function") or {}
        name = function.get("name") or ""
        arguments = function.get("arguments") or ""
        current = self._by_index.get(index)
        if current is None or self._starts_new_call(current, call_id, name):
            current = _OpenCall(self._next_slot, call_id, name)
            self._next_slot += 1
            self._by_index[index] = current
            yield ToolCallBegin(current.slot, call_id or new_call_id(), name)
        if arguments:
            current.arguments += arguments
            yield ToolArgsChunk(current.slot, arguments)

    @staticmethod
    def _starts_new_call(current: _OpenCall, call_id: str | None, name: str) -> bool:
        if call_id and current.call_id and call_id != current.call_id:
            return True
        # No id to tell by: a name arriving after a whole argument object is a new call.
        complete = bool(current.arguments) and parse_arguments(current.arguments)[1] is None
        return not call_id and bool(name) and complete


def stream_deltas(stream: Any, *, context_cut: bool = False) -> Iterator[Delta]:
    """Read the SDK stream's response ourselves: the SDK drops keep-alive comments, hides
    whether ``[DONE]`` came, and stops reading at ``[DONE]`` (which closes the connection
    instead of returning it to the pool). ``context_cut``: a "length" finish means the
    context is full."""
    return sse_deltas(stream.response.iter_lines(), context_cut=context_cut)


def _stop_reason(raw: str, context_cut: bool) -> StopReason:
    reason = _FINISH_REASONS.get(raw, "completed")
    return "context_full" if reason == "truncated" and context_cut else reason


def sse_deltas(lines: Iterable[str], *, context_cut: bool = False) -> Iterator[Delta]:
    reader = _ChatStream(context_cut)
    for event in iter_sse(lines):
        if event is None:
            yield KeepAlive()
        elif event.data.startswith("[DONE]"):
            yield from reader.done()  # then read on to the end of the body
        else:
            yield from reader.chunk(json_object(event.data))
    if not reader.ended:
        raise IncompleteStreamError("the stream ended without its terminal event (finish_reason, [DONE])")


class _ChatStream:
    """One chat-completions stream. The reply is whole at its ``finish_reason`` (or at
    ``[DONE]``): what the connection does after that cannot take it away."""

    def __init__(self, context_cut: bool = False) -> None:
        self.slots = _ToolCallSlots()
        self.ended = False
        self.content = False
        self.context_cut = context_cut

    def chunk(self, chunk: dict[str, Any]) -> Iterator[Delta]:
        error = chunk.get("error")
        if error:
            raise _error_event(error)
        usage = chunk.get("usage")
        if isinstance(usage, dict) and usage:
            yield usage_chunk(usage)
        for choice in chunk.get("choices") or ():
            yield from self._choice(choice)

    def _choice(self, choice: dict[str, Any]) -> Iterator[Delta]:
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            yield ThinkingChunk(reasoning)
        content = delta.get("content")
        if content:
            self.content = True
            yield TextChunk(content)
        for fragment in delta.get("tool_calls") or ():
            self.content = True
            yield from self.slots.feed(fragment)
        raw = choice.get("finish_reason")
        if raw == "error":  # OpenRouter: the upstream aborted the reply
            raise IncompleteStreamError("the provider ended the reply with finish_reason 'error'")
        if raw and not self.ended:
            self.ended = True
            yield StopChunk(_stop_reason(raw, self.context_cut), raw)
            yield StreamEnd()

    def done(self) -> Iterator[Delta]:
        if self.ended:
            return
        if not self.content:
            # llama.cpp's answer to a prompt that does not fit: [DONE] and nothing else.
            raise IncompleteStreamError(
                "the stream ended with [DONE] but no content and no finish reason "
                "(a local server does this when the prompt does not fit its context)"
            )
        self.ended = True
        yield StopChunk("completed", "stop")  # [DONE] without a finish_reason: some local servers
        yield StreamEnd()


def usage_chunk(usage: dict[str, Any]) -> UsageChunk:
    """Chat usage in the neutral split: ``prompt_tokens`` includes the cached part
    (``prompt_tokens_details.cached_tokens``; OpenRouter adds ``cache_write_tokens``)."""
    prompt = _count(usage.get("prompt_tokens"))
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    read = _count(details.get("cached_tokens"))
    write = _count(details.get("cache_write_tokens"))
    uncached = None if prompt is None else max(0, prompt - (read or 0) - (write or 0))
    return UsageChunk(uncached, _count(usage.get("completion_tokens")), read, write)


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _error_event(error: object) -> StreamErrorEvent:
    if isinstance(error, dict):
        message = str(error.get("message") or "an error occurred during streaming")
        kind = error.get("type")
        return StreamErrorEvent(message, error.get("code"), str(kind) if kind else None)
    return StreamErrorEvent(str(error))


def completion_deltas(completion: Any, *, context_cut: bool = False) -> Iterator[Delta]:
    """A non-streamed ChatCompletion as the deltas a stream would have produced."""
    if completion.usage is not None:
        yield usage_chunk(completion.usage.model_dump())
    choice = completion.choices[0]
    message = choice.message
    if message.content:
        yield TextChunk(message.content)
    for slot, call in enumerate(message.tool_calls or []):
        yield ToolCallBegin(slot, call.id, call.function.name)
        yield ToolArgsChunk(slot, call.function.arguments or "")
    raw = choice.finish_reason or "stop"
    yield StopChunk(_stop_reason(raw, context_cut), raw)
    yield StreamEnd()
