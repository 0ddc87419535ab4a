"""The checks behind the local servers' rules (``rules.py``), worded like the servers.

Body-only checks take the request body; context checks also take the context size the
server runs with. Each returns None when the request passes, else the ``Refusal``.
"""

from __future__ import annotations

from typing import Any

from agent.testing.local_servers import prompt_tokens
from agent.testing.refusal import Refusal

# The members of llama-cpp-python's message union, in its order, with what each needs.
_MEMBERS = (
    ("ChatCompletionRequestSystemMessage", "system", ()),
    ("ChatCompletionRequestUserMessage", "user", ()),
    ("ChatCompletionRequestAssistantMessage", "assistant", ()),
    ("ChatCompletionRequestToolMessage", "tool", ("tool_call_id",)),
    ("ChatCompletionRequestFunctionMessage", "function", ("name",)),
)


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def _validation_dump(index: int, message: dict[str, Any]) -> str:
    """FastAPI's report (as llama-cpp-python 0.3.36 sends it) for a message whose content
    is null: for each union member, the role it wanted, or the string it wanted, and the
    fields it misses; then the line of the route that raised."""
    role = message.get("role")
    errors: list[dict[str, Any]] = []
    for member, wanted, required in _MEMBERS:
        loc = ("body", "messages", index, member)
        if wanted != role:
            errors.append({"type": "literal_error", "loc": (*loc, "role"), "msg": f"Input should be '{wanted}'",
                           "input": role, "ctx": {"expected": f"'{wanted}'"}})  # fmt: skip
        else:
            errors.append({"type": "string_type", "loc": (*loc, "content"), "msg": "Input should be a valid string",
                           "input": None})  # fmt: skip
        errors += [{"type": "missing", "loc": (*loc, name), "msg": "Field required", "input": message}
                   for name in required if name not in message]  # fmt: skip
    lines = "\n".join(f"  {error!r}" for error in errors)
    trace = '  File "llama_cpp/server/app.py", line 376, in create_chat_completion\n    POST /v1/chat/completions'
    return f"{len(errors)} validation errors:\n{lines}\n\n{trace}"


def null_content(body: dict[str, Any]) -> Refusal | None:
    for index, message in enumerate(_messages(body)):
        if "content" in message and message["content"] is None and message.get("role") != "tool":
            return Refusal(_validation_dump(index, message), status=500, error_type="internal_server_error")
    return None


def missing_content(body: dict[str, Any]) -> Refusal | None:
    for message in _messages(body):
        if "content" not in message and message.get("role") in ("system", "user", "assistant"):
            return Refusal("'content'", status=500, error_type="internal_server_error")
    return None


def llamacpp_python_context(body: dict[str, Any], window: int) -> Refusal | None:
    tokens = prompt_tokens(body)
    if tokens < window:
        return None
    completion = body.get("max_tokens")
    message = (
        f"This model's maximum context length is {window} tokens. However, you requested "
        f"{tokens + (completion or 0)} tokens ({tokens} in the messages, {completion} in the completion). "
        "Please reduce the length of the messages or completion."
    )
    return Refusal(message, code="context_length_exceeded", param="messages", streamed_empty=True)


def llama_server_context(body: dict[str, Any], window: int) -> Refusal | None:
    tokens = prompt_tokens(body)
    if tokens < window:
        return None
    message = f"request ({tokens} tokens) exceeds the available context size ({window} tokens), try increasing it"
    extra = {"n_prompt_tokens": tokens, "n_ctx": window}
    return Refusal(message, error_type="exceed_context_size_error", extra=extra)


def vllm_context(body: dict[str, Any], window: int) -> Refusal | None:
    tokens = prompt_tokens(body)
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
