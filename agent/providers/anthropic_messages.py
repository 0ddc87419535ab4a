"""The Anthropic Messages wire (``POST /v1/messages``) through the ``anthropic`` SDK."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from agent.messages import Message, TextPart, ThinkingPart, ToolCallPart, ToolResultPart, new_call_id
from agent.providers.base import (
    ErrorFacts,
    IncompleteStreamError,
    ModelRequest,
    ProviderStream,
    StreamErrorEvent,
)
from agent.providers.caching import anchor_prefixes, mark_anthropic
from agent.providers.deltas import (
    BlockEnd,
    Delta,
    KeepAlive,
    RedactedThinking,
    SignatureChunk,
    StopChunk,
    StopReason,
    StreamEnd,
    TextChunk,
    ThinkingChunk,
    ToolArgsChunk,
    ToolCallBegin,
    UsageChunk,
)
from agent.providers.error_text import read_error, retry_advice
from agent.providers.lease import LeasedStream
from agent.providers.profiles import FINE_GRAINED_TOOL_STREAMING
from agent.providers.provider_base import ProviderBase
from agent.providers.sse import iter_sse, json_object

WIRE = "anthropic_messages"
_STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "completed",
    "stop_sequence": "completed",
    "pause_turn": "paused",
    "tool_use": "tool_calls",
    "max_tokens": "truncated",
    "model_context_window_exceeded": "context_full",
    "refusal": "refusal",
}
_TOOL_USE_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
# "input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000, ..."
_CONTEXT_LIMIT = re.compile(r"exceed context limit:\s*(\d+)\s*\+\s*(\d+)\s*>\s*(\d+)")
_FIT_MARGIN = 256  # the input count can move a little between requests (a seam, a note)
_MIN_FITTING_OUTPUT = 1_024
# Without a key the SDK refuses to send; a local gateway may need none.
_NO_KEY = "no-key"


class AnthropicMessagesProvider(ProviderBase):
    wire = WIRE

    def _build_client(self, on_request: Callable[[Any], None]) -> Any:
        import anthropic

        return anthropic.Anthropic(
            api_key=self._api_key or _NO_KEY,
            base_url=self.base_url or None,
            max_retries=0,  # the agent owns retries: one policy, one budget
            timeout=self._timeout,
            default_headers=self._headers(),
            http_client=self._http_client(on_request),
        )

    def _headers(self) -> dict[str, str]:
        headers = self.profile.request_headers(self.model_info)
        if self._eager == "header":
            headers["anthropic-beta"] = FINE_GRAINED_TOOL_STREAMING
        return headers

    def open_stream(self, request: ModelRequest) -> ProviderStream:
        params = self.build_params(request)
        if request.stream:
            return LeasedStream(self._connection, lambda c: c.messages.create(**params, stream=True), stream_deltas)
        return LeasedStream(self._connection, lambda c: c.messages.create(**params), message_deltas)

    def build_params(self, request: ModelRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model,
            "max_tokens": self.output_limit(request),
            "messages": to_wire_messages(request.messages),
        }
        if request.system:
            params["system"] = request.system
        if request.tools:
            params["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.schema} for t in request.tools
            ]
            if self._eager is True:
                for tool in params["tools"]:
                    tool["eager_input_streaming"] = True
        if self._breakpoints:
            # Marked before the prefill: continuation text is never worth caching.
            anchors = anchor_prefixes(request.messages, request.cache_anchors, to_wire_messages)
            mark_anthropic(params, self.caching.ttl, anchors)
        if request.prefill:
            _append_prefill(params["messages"], request.prefill)
        return params

    def error_facts(self, exc: BaseException) -> ErrorFacts:
        import anthropic

        common = self.common_error_facts(exc)
        if common is not None:
            return common
        if isinstance(exc, anthropic.APITimeoutError):
            return ErrorFacts("timeout", str(exc))
        if isinstance(exc, anthropic.APIConnectionError):
            cause = exc.__cause__
            return ErrorFacts("transport", f"{exc}: {cause}" if cause else str(exc))
        if isinstance(exc, anthropic.APIStatusError):
            kind, text = read_error(exc.body, str(exc))
            headers = exc.response.headers if exc.response is not None else None
            advice = retry_advice(headers, text)
            if exc.status_code == 200:  # an `event: error` inside the stream
                return ErrorFacts("sse_error", text, None, advice, kind)
            url = str(exc.response.request.url) if exc.response is not None else None
            return ErrorFacts(
                "http_status", text, exc.status_code, advice, kind, fitting_max_tokens=fitting_max_tokens(text), url=url
            )
        if isinstance(exc, StreamErrorEvent):  # an `event: error` inside the stream
            kind, text = read_error({"error": {"type": exc.error_type, "message": exc.message}}, exc.message)
            return ErrorFacts("sse_error", text, None, retry_advice(None, text), kind)
        if isinstance(exc, anthropic.APIError):
            kind, text = read_error(exc.body, str(exc))
            return ErrorFacts("sse_error", text, None, retry_advice(None, text), kind)
        return ErrorFacts("other", f"{type(exc).__name__}: {exc}")


def fitting_max_tokens(message: str) -> int | None:
    """From "input length and `max_tokens` exceed context limit: X + Y > Z", a max_tokens
    that fits the window (None when the message is another one, or nothing useful fits)."""
    match = _CONTEXT_LIMIT.search(message)
    if match is None:
        return None
    prompt, _, window = (int(g) for g in match.groups())
    room = window - prompt - _FIT_MARGIN
    return room if room >= _MIN_FITTING_OUTPUT else None


# -- conversion: neutral -> wire ---------------------------------------------------
def wire_call_id(call_id: str) -> str:
    """A tool-call id in the shape this wire requires (``^[a-zA-Z0-9_-]+$``). Ids from
    other servers may carry dots, colons or be empty; the mapping is a pure function of
    the id, so a call and its result always agree, across turns and sessions."""
    if _TOOL_USE_ID.match(call_id):
        return call_id
    cleaned = re.sub(r"[^a-zA-Z0-9_-]", "_", call_id)[:48]
    digest = hashlib.sha256(call_id.encode()).hexdigest()[:10]  # keeps "a.b" and "a:b" apart
    return f"{cleaned}_{digest}" if cleaned else f"toolu_{digest}"


def to_wire_messages(messages: list[Message], prefill: str | None = None) -> list[dict[str, Any]]:
    """Neutral history to Anthropic messages: tool results ride in user messages,
    consecutive same-role messages merge, thinking from another wire is dropped."""
    wire: list[dict[str, Any]] = []
    for message in messages:
        blocks = [b for b in (_block(p) for p in message.parts) if b is not None]
        if message.role == "tool":
            blocks.sort(key=lambda b: b["type"] != "tool_result")
        role = "assistant" if message.role == "assistant" else "user"
        if not blocks:
            continue
        if wire and wire[-1]["role"] == role:
            wire[-1]["content"].extend(blocks)
        else:
            wire.append({"role": role, "content": blocks})
    if prefill:
        _append_prefill(wire, prefill)
    return wire


def _block(part: Any) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        # Empty and whitespace-only text blocks are refused; whitespace beside real text is not.
        return {"type": "text", "text": part.text} if part.text.strip() else None
    if isinstance(part, ThinkingPart):
        if part.source_wire != WIRE:
            return None  # signatures cannot cross providers
        if part.redacted_data is not None:
            return {"type": "redacted_thinking", "data": part.redacted_data}
        if not part.signature:
            return None  # an unsigned (cut) thinking block would be refused
        return {"type": "thinking", "thinking": part.text, "signature": part.signature}
    if isinstance(part, ToolCallPart):
        return {"type": "tool_use", "id": wire_call_id(part.call_id), "name": part.name, "input": part.arguments}
    if isinstance(part, ToolResultPart):
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": wire_call_id(part.call_id),
            "content": part.content,
        }
        if part.is_error:
            block["is_error"] = True
        return block
    return None


def _append_prefill(wire: list[dict[str, Any]], text: str) -> None:
    # The API refuses a final assistant message that ends in whitespace; the loop
    # re-joins the seam exactly on its side.
    prefill = text.rstrip()
    if not prefill:
        return
    block = {"type": "text", "text": prefill}
    if wire and wire[-1]["role"] == "assistant":
        wire[-1]["content"].append(block)
    else:
        wire.append({"role": "assistant", "content": [block]})


# -- conversion: wire -> deltas ----------------------------------------------------
def stream_deltas(stream: Any) -> Iterator[Delta]:
    """Read the SDK stream's response as SSE ourselves: the SDK drops ``ping`` (we want
    to see keep-alives) and builds a pydantic object per event (we only need dicts)."""
    return sse_deltas(stream.response.iter_lines())


def sse_deltas(lines: Iterable[str]) -> Iterator[Delta]:
    """Translate Anthropic SSE events; unknown events are ignored."""
    stopped = False
    for sse in iter_sse(lines):
        if sse is None or sse.event == "ping":
            yield KeepAlive()
            continue
        event = json_object(sse.data)
        kind = event.get("type", sse.event)
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            dkind = delta.get("type")
            if dkind == "text_delta":
                yield TextChunk(delta.get("text", ""))
            elif dkind == "input_json_delta":
                partial = delta.get("partial_json", "")
                yield ToolArgsChunk(event.get("index", 0), partial, bool(partial))
            elif dkind == "thinking_delta":
                yield ThinkingChunk(delta.get("thinking", ""))
            elif dkind == "signature_delta":
                yield SignatureChunk(delta.get("signature", ""))
        elif kind == "content_block_start":
            yield from _block_start(event.get("index", 0), event.get("content_block") or {})
        elif kind == "content_block_stop":
            yield BlockEnd()
        elif kind == "message_start":
            yield usage_chunk((event.get("message") or {}).get("usage") or {})
        elif kind == "message_delta":
            delta = event.get("delta") or {}
            raw = delta.get("stop_reason")
            if raw:
                yield StopChunk(
                    _STOP_REASONS.get(raw, "completed"), raw, detail=_stop_detail(delta.get("stop_details"))
                )
            usage = event.get("usage") or {}
            if usage:
                yield usage_chunk(usage)
        elif kind == "message_stop":
            stopped = True
            yield StreamEnd()
        elif kind == "error":
            error = event.get("error") or {}
            message = str(error.get("message") or "an error occurred during streaming")
            raise StreamErrorEvent(message, None, error.get("type"))
    # Reading on to the end of the body (not returning at message_stop) lets the
    # connection go back to the pool instead of being closed half-read.
    if not stopped:
        raise IncompleteStreamError("the stream ended without its terminal event (message_stop)")


def _stop_detail(details: object) -> str | None:
    """A refusal's ``stop_details`` as one line: "category: explanation"."""
    if not isinstance(details, dict):
        return None
    bits = [str(details[k]) for k in ("category", "explanation") if details.get(k)]
    return ": ".join(bits) or None


def usage_chunk(usage: dict[str, Any]) -> UsageChunk:
    """Anthropic usage: ``input_tokens`` already excludes the cached parts."""
    return UsageChunk(
        _count(usage.get("input_tokens")),
        _count(usage.get("output_tokens")),
        _count(usage.get("cache_read_input_tokens")),
        _count(usage.get("cache_creation_input_tokens")),
    )


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _block_start(index: int, block: dict[str, Any]) -> Iterator[Delta]:
    yield BlockEnd()  # a new block never continues the previous one
    kind = block.get("type")
    if kind == "text":
        text = block.get("text") or ""
        yield TextChunk(text, bool(text))
    elif kind == "thinking":
        thinking = block.get("thinking") or ""
        yield ThinkingChunk(thinking, bool(thinking))
    elif kind == "redacted_thinking":
        yield RedactedThinking(block.get("data", ""))
    elif kind == "tool_use":
        yield ToolCallBegin(index, block.get("id") or new_call_id(), block.get("name", ""))
        if block.get("input"):
            yield ToolArgsChunk(index, json.dumps(block["input"]))


def message_deltas(message: Any) -> Iterator[Delta]:
    """A non-streamed Message as the same deltas a stream would have produced."""
    yield usage_chunk(message.usage.model_dump())
    for index, block in enumerate(message.content):
        data = block.model_dump()
        yield from _block_start(index, data)
        if data.get("type") == "thinking" and data.get("signature"):
            yield SignatureChunk(data["signature"])
        yield BlockEnd()
    raw = message.stop_reason or "end_turn"
    detail = _stop_detail(message.stop_details.model_dump() if getattr(message, "stop_details", None) else None)
    yield StopChunk(_STOP_REASONS.get(raw, "completed"), raw, detail=detail)
    yield StreamEnd()
