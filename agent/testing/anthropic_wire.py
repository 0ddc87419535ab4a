"""Anthropic Messages wire: SSE events, Message objects and error bodies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.testing.prompt_cache import PromptUsage
from agent.testing.render import arguments_object, arguments_text, dumps, merged_content, random_id, split
from agent.testing.script import ContentItem, Reply, SseError, Text, Thinking, ToolCall

DEFAULT_MODEL = "claude-sonnet-4-5"

STOP_REASONS = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "refusal": "refusal",
    "content_filter": "refusal",
}

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_DELTA_HEAD = 'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
PING = b'event: ping\ndata: {"type": "ping"}\n\n'


def error_type(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def error_body(status: int, message: str, type_: str | None, request_id: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": type_ or error_type(status), "message": message},
        "request_id": request_id,
    }


def new_request_id() -> str:
    return random_id("req_011C", 20)


def stop_reason(reply: Reply) -> str:
    stop = reply.neutral_stop()
    return STOP_REASONS.get(stop, stop)


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {dumps(payload)}\n\n".encode()


def _usage(reply: Reply, prompt: PromptUsage, output_tokens: int) -> dict[str, Any]:
    """Usage as the API reports it: ``input_tokens`` is the uncached part."""
    if reply.usage is not None:
        return {
            "input_tokens": reply.usage[0],
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": output_tokens,
            "service_tier": "standard",
        }
    return {
        "input_tokens": prompt.input_tokens,
        "cache_creation_input_tokens": prompt.cache_write,
        "cache_read_input_tokens": prompt.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": prompt.cache_write - prompt.write_1h,
            "ephemeral_1h_input_tokens": prompt.write_1h,
        },
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


class AnthropicStream:
    """Renders content items as Anthropic SSE events. A content block stays open until the
    next content item of another kind (or the end), so a fault leaves it unterminated."""

    def __init__(self, reply: Reply, model: str, prompt: PromptUsage) -> None:
        self.reply = reply
        self.model = model
        self.prompt = prompt
        self.message_id = random_id("msg_01", 22)
        self.index = -1
        self.open_kind: str | None = None
        self.pinged = False

    def begin(self) -> Iterator[bytes]:
        message: dict[str, Any] = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _usage(self.reply, self.prompt, 1),
        }
        yield _event("message_start", {"type": "message_start", "message": message})

    def _close(self) -> Iterator[bytes]:
        if self.open_kind is not None:
            yield _event("content_block_stop", {"type": "content_block_stop", "index": self.index})
            self.open_kind = None

    def _open(self, kind: str, block: dict[str, Any]) -> Iterator[bytes]:
        yield from self._close()
        self.index += 1
        self.open_kind = kind
        yield _event(
            "content_block_start",
            {"type": "content_block_start", "index": self.index, "content_block": block},
        )
        if not self.pinged:
            self.pinged = True
            yield PING

    def _delta_prefix(self) -> str:
        return f'{_DELTA_HEAD}{self.index},"delta":'

    def content(self, item: ContentItem) -> Iterator[bytes]:
        if isinstance(item, Text):
            if self.open_kind != "text":
                yield from self._open("text", {"type": "text", "text": ""})
            prefix = self._delta_prefix() + '{"type":"text_delta","text":'
            for piece in split(item.text, item.chunk):
                yield f"{prefix}{dumps(piece)}}}}}\n\n".encode()
        elif isinstance(item, Thinking):
            yield from self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            prefix = self._delta_prefix() + '{"type":"thinking_delta","thinking":'
            for piece in split(item.text, item.chunk):
                yield f"{prefix}{dumps(piece)}}}}}\n\n".encode()
            signature = dumps(item.signature)
            yield f'{self._delta_prefix()}{{"type":"signature_delta","signature":{signature}}}}}\n\n'.encode()
        elif isinstance(item, ToolCall):
            call_id = item.id or random_id("toolu_01", 22)
            yield from self._open("tool_use", {"type": "tool_use", "id": call_id, "name": item.name, "input": {}})
            prefix = self._delta_prefix() + '{"type":"input_json_delta","partial_json":'
            yield f'{prefix}""}}}}\n\n'.encode()
            for piece in split(arguments_text(item), item.chunk):
                yield f"{prefix}{dumps(piece)}}}}}\n\n".encode()

    def keepalive(self) -> bytes:
        return PING

    def error(self, item: SseError) -> bytes:
        return _event(
            "error",
            {
                "type": "error",
                "error": {"type": item.type, "message": item.message},
                "request_id": new_request_id(),
            },
        )

    def finish(self) -> Iterator[bytes]:
        yield from self._close()
        yield _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": stop_reason(self.reply),
                    "stop_sequence": None,
                    "stop_details": self.reply.stop_details,
                },
                "usage": {"output_tokens": self.reply.output_tokens()},
            },
        )
        yield _event("message_stop", {"type": "message_stop"})


def message(reply: Reply, content: tuple[ContentItem, ...], model: str, prompt: PromptUsage) -> dict[str, Any]:
    """A non-streamed Message object."""
    blocks: list[dict[str, Any]] = []
    for item in merged_content(content):
        if isinstance(item, Text):
            blocks.append({"type": "text", "text": item.text})
        elif isinstance(item, Thinking):
            blocks.append({"type": "thinking", "thinking": item.text, "signature": item.signature})
        else:
            blocks.append(
                {
                    "type": "tool_use",
                    "id": item.id or random_id("toolu_01", 22),
                    "name": item.name,
                    "input": arguments_object(item),
                }
            )
    return {
        "id": random_id("msg_01", 22),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop_reason(reply),
        "stop_sequence": None,
        "stop_details": reply.stop_details,
        "usage": _usage(reply, prompt, reply.output_tokens()),
    }
