"""OpenAI chat-completions wire (plain and OpenRouter flavour): chunks, completions, errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from agent.testing.prompt_cache import PromptUsage
from agent.testing.render import arguments_text, dumps, merged_content, random_id, split
from agent.testing.script import ContentItem, Flavour, Reply, SseError, Text, Thinking, ToolCall

DEFAULT_MODEL = "gpt-4o"

FINISH_REASONS = {
    "end_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "refusal": "content_filter",
    "content_filter": "content_filter",
}

ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", None),
    413: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}

KEEPALIVE = b": OPENROUTER PROCESSING\n\n"
DONE = b"data: [DONE]\n\n"


def error_body(
    status: int,
    message: str,
    type_: str | None,
    flavour: Flavour,
    *,
    code: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    if flavour == "openrouter":
        return {"error": {"message": message, "code": status, "metadata": {}}}
    default_type, default_code = ERROR_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return {"error": {"message": message, "type": type_ or default_type, "param": param, "code": code or default_code}}


def provider_error_body(status: int, raw: str, provider: str) -> dict[str, Any]:
    """OpenRouter's shape for an error the upstream provider returned: its own JSON rides
    as a string in ``metadata.raw``."""
    return {
        "error": {
            "message": "Provider returned error",
            "code": status,
            "metadata": {"raw": raw, "provider_name": provider},
        }
    }


def new_request_id() -> str:
    return random_id("req_", 32)


def finish_reason(reply: Reply) -> str:
    stop = reply.neutral_stop()
    return FINISH_REASONS.get(stop, stop)


def _usage(reply: Reply, prompt: PromptUsage, flavour: Flavour) -> dict[str, Any]:
    """Usage as the API reports it: ``prompt_tokens`` includes the cached part;
    OpenRouter adds what was written to the cache."""
    if reply.usage is not None:
        given, completion = reply.usage
        return {"prompt_tokens": given, "completion_tokens": completion, "total_tokens": given + completion}
    completion = reply.output_tokens()
    if flavour in ("llamacpp-python", "vllm", "ollama"):  # no prompt_tokens_details by default
        return {
            "prompt_tokens": prompt.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt.prompt_tokens + completion,
        }
    details: dict[str, int] = {"cached_tokens": prompt.cache_read}
    details.update({"cache_write_tokens": prompt.cache_write} if flavour == "openrouter" else {"audio_tokens": 0})
    return {
        "prompt_tokens": prompt.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt.prompt_tokens + completion,
        "prompt_tokens_details": details,
    }


class OpenAIStream:
    """Renders content items as ``chat.completion.chunk`` data lines."""

    def __init__(self, reply: Reply, model: str, flavour: Flavour, include_usage: bool, prompt: PromptUsage) -> None:
        self.reply = reply
        self.prompt = prompt
        self.flavour = flavour
        self.include_usage = include_usage
        self.tool_index = -1
        self.chunk_id = random_id("gen-" if flavour == "openrouter" else "chatcmpl-", 29)
        self.created = int(time.time())
        self.model = model
        head = {
            "id": self.chunk_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": model,
        }
        if flavour == "openrouter":
            head["provider"] = "Simulator"
        else:
            head["system_fingerprint"] = "fp_simulator"
        self.head = dumps(head)[:-1]
        self.prefix = f'data: {self.head},"choices":[{{"index":0,"delta":'
        self.suffix = ',"logprobs":null,"finish_reason":null}]}\n\n'
        self.reasoning_key = "reasoning" if flavour == "openrouter" else "reasoning_content"

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return f"{self.prefix}{dumps(delta)}{self.suffix}".encode()

    def begin(self) -> Iterator[bytes]:
        if self.flavour == "openrouter":
            yield KEEPALIVE
        yield self._delta({"role": "assistant", "content": ""})

    def content(self, item: ContentItem) -> Iterator[bytes]:
        if isinstance(item, Text):
            prefix = self.prefix + '{"content":'
            for piece in split(item.text, item.chunk):
                yield f"{prefix}{dumps(piece)}}}{self.suffix}".encode()
        elif isinstance(item, Thinking):
            prefix = f'{self.prefix}{{"{self.reasoning_key}":'
            for piece in split(item.text, item.chunk):
                yield f"{prefix}{dumps(piece)}}}{self.suffix}".encode()
        elif isinstance(item, ToolCall):
            yield from self._tool_call(item)

    def _tool_call(self, item: ToolCall) -> Iterator[bytes]:
        quirks = self.reply.quirks
        self.tool_index += 1
        index = 0 if "reuse_index_zero" in quirks else self.tool_index
        call_id = item.id or random_id("call_", 24)
        first = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": item.name, "arguments": ""},
        }
        yield self._delta({"tool_calls": [first]})
        for piece in split(arguments_text(item), item.chunk):
            fragment: dict[str, Any] = {"index": index}
            if "repeat_ids" in quirks:
                fragment["id"] = call_id
            function: dict[str, Any] = {"arguments": piece}
            if "resend_name" in quirks:
                function = {"name": item.name, "arguments": piece}
            fragment["function"] = function
            yield self._delta({"tool_calls": [fragment]})

    def keepalive(self) -> bytes:
        return KEEPALIVE

    def error(self, item: SseError) -> bytes:
        if self.flavour == "openrouter":
            payload = (
                f'{self.head},"error":{dumps({"message": item.message, "code": item.code})},'
                '"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}'
            )
            return f"data: {payload}\n\n".encode()
        error = {"message": item.message, "type": item.type, "param": None, "code": item.code}
        return f"data: {dumps({'error': error})}\n\n".encode()

    def finish(self) -> Iterator[bytes]:
        reason = dumps(finish_reason(self.reply))
        yield f'{self.prefix}{{}},"logprobs":null,"finish_reason":{reason}}}]}}\n\n'.encode()
        if self.include_usage:
            usage = dumps(_usage(self.reply, self.prompt, self.flavour))
            yield f'data: {self.head},"choices":[],"usage":{usage}}}\n\n'.encode()
        yield DONE


def completion(
    reply: Reply, content: tuple[ContentItem, ...], model: str, flavour: Flavour, prompt: PromptUsage
) -> dict[str, Any]:
    """A non-streamed ChatCompletion object."""
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in merged_content(content):
        if isinstance(item, Text):
            texts.append(item.text)
        elif isinstance(item, Thinking):
            reasoning.append(item.text)
        else:
            calls.append(
                {
                    "id": item.id or random_id("call_", 24),
                    "type": "function",
                    "function": {"name": item.name, "arguments": arguments_text(item)},
                }
            )
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts else None,
        "refusal": None,
        "annotations": [],
    }
    if reasoning:
        message["reasoning" if flavour == "openrouter" else "reasoning_content"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = calls
    result: dict[str, Any] = {
        "id": random_id("gen-" if flavour == "openrouter" else "chatcmpl-", 29),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason(reply)}],
        "usage": _usage(reply, prompt, flavour),
    }
    if flavour != "openrouter":
        result["system_fingerprint"] = "fp_simulator"
    return result
