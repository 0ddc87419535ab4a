"""The checks behind the local servers' rules (``rules.py``), worded like the servers.

Body-only checks take the request body; context checks also take the server's
``ServerSettings``. Each returns None when the request passes, else the ``Refusal``.
"""

from __future__ import annotations

from typing import Any

from agent.testing.local_servers import ServerSettings, prompt_tokens
from agent.testing.refusal import Refusal

# The members of llama-cpp-python's message union, in its order, with what each needs.
_MEMBERS = (
    ("ChatCompletionRequestSystemMessage", "system"),
    ("ChatCompletionRequestUserMessage", "user"),
    ("ChatCompletionRequestAssistantMessage", "assistant"),
    ("ChatCompletionRequestToolMessage", "tool"),
    ("ChatCompletionRequestFunctionMessage", "function"),
)
_DOCS = "    For further information visit https://errors.pydantic.dev/2.12/v"


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def _pydantic_dump(index: int, message: dict[str, Any]) -> str:
    """pydantic's report for a message whose content is null: every union member that
    the role does not match, and the string check of the member that it does."""
    lines: list[str] = []
    for member, role in _MEMBERS:
        where = f"messages.{index}.{member}"
        if role != message.get("role"):
            lines += [f"{where}.role", f"  Input should be '{role}' [type=literal_error, "
                      f"input_value={message.get('role')!r}, input_type=str]", f"{_DOCS}/literal_error"]
        elif role != "tool":
            lines += [f"{where}.content", "  Input should be a valid string [type=string_type, "
                      "input_value=None, input_type=NoneType]", f"{_DOCS}/string_type"]
    count = len(lines) // 3
    return f"{count} validation errors for CreateChatCompletionRequest\n" + "\n".join(lines)


def null_content(body: dict[str, Any]) -> Refusal | None:
    for index, message in enumerate(_messages(body)):
        if "content" in message and message["content"] is None and message.get("role") != "tool":
            return Refusal(_pydantic_dump(index, message), status=500, error_type="internal_server_error")
    return None


def missing_content(body: dict[str, Any]) -> Refusal | None:
    for message in _messages(body):
        if "content" not in message and message.get("role") in ("system", "user", "assistant"):
            return Refusal("'content'", status=500, error_type="internal_server_error")
    return None


def llamacpp_python_context(body: dict[str, Any], server: ServerSettings) -> Refusal | None:
    tokens = prompt_tokens(body)
    if tokens < server.context_size:
        return None
    completion = body.get("max_tokens")
    message = (
        f"This model's maximum context length is {server.context_size} tokens. However, you requested "
        f"{tokens + (completion or 0)} tokens ({tokens} in the messages, {completion} in the completion). "
        "Please reduce the length of the messages or completion."
    )
    return Refusal(message, code="context_length_exceeded", param="messages", streamed_empty=True)


def llama_server_context(body: dict[str, Any], server: ServerSettings) -> Refusal | None:
    tokens = prompt_tokens(body)
    if tokens < server.context_size:
        return None
    message = (
        f"request ({tokens} tokens) exceeds the available context size ({server.context_size} tokens), "
        "try increasing it"
    )
    extra = {"n_prompt_tokens": tokens, "n_ctx": server.context_size}
    return Refusal(message, error_type="exceed_context_size_error", extra=extra)


def vllm_context(body: dict[str, Any], server: ServerSettings) -> Refusal | None:
    tokens, window = prompt_tokens(body), server.context_size
    asked = body.get("max_completion_tokens") or body.get("max_tokens")
    if tokens >= window:
        message = (
            f"This model's maximum context length is {window} tokens. However, your request has {tokens} "
            "input tokens. Please reduce the length of the input messages."
        )
        return Refusal(message, error_type="BadRequestError")
    if isinstance(asked, int) and tokens + asked > window:
        message = (
            f"'max_tokens' or 'max_completion_tokens' is too large: {asked}. This model's maximum context length "
            f"is {window} tokens and your request has {tokens} input tokens ({asked} > {window} - {tokens})."
        )
        return Refusal(message, error_type="BadRequestError")
    return None
