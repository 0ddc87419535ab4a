"""What the real APIs refuse, as one table: the simulator's oracle.

Each rule names the wire flavours that enforce it and the documented behaviour it
mirrors, so a test that passes against the simulator would not be refused in
production. The first rule that fails decides the refusal, in table order (structural
problems first, as the real validators report them).

The simulator keeps its own model facts (which models refuse prefill) instead of
reading the agent's model catalog: an oracle that shares the code under test's table
would share its mistakes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.testing import local_rules as local
from agent.testing import validation as v
from agent.testing.refusal import Refusal
from agent.testing.script import Flavour

__all__ = ["RULES", "Refusal", "Rule", "check_request", "refuses_prefill"]


Check = Callable[[dict[str, Any]], "Refusal | str | None"]
SizeCheck = Callable[[dict[str, Any], int], "Refusal | str | None"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One refusal of a real API. ``check(body)`` returns what it says, or None;
    ``with_server``: the check also takes the local server's ``ServerSettings``."""

    name: str
    flavours: frozenset[Flavour]
    mirrors: str  # the documented behaviour, and where it is documented
    check: Check | None = None
    # A rule about the request's size: it gets the context window the test gave the
    # request's model (``ProviderSimulator(context_windows=...)``); skipped without one.
    sized: SizeCheck | None = None


# -- model facts (from Anthropic's docs, independent of agent/models.py) ------------------

_CLAUDE_VERSION = re.compile(r"claude-(?:opus|sonnet|haiku|fable)-(\d+)(?:-(\d+))?(?![0-9])")


def refuses_prefill(model: object) -> bool:
    """Claude 4.6 and later refuse a request that ends with an assistant message
    (Opus 4.6 / Sonnet 4.6 migration guide); older Claude models accept prefill.
    Non-Claude ids reaching an Anthropic-shaped endpoint are treated as refusing,
    the strict side: nothing documents that they continue a prefill."""
    norm = re.sub(r"[._]", "-", str(model).lower().rsplit("/", 1)[-1])
    match = _CLAUDE_VERSION.search(norm)
    if match is None:
        return not norm.startswith("claude-3")
    major = int(match.group(1))
    minor = int(match.group(2)) if match.group(2) and len(match.group(2)) < 3 else 0  # not a date suffix
    return (major, minor) >= (4, 6)


def _no_prefill(body: dict[str, Any]) -> str | None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return None
    if messages[-1].get("role") == "assistant" and refuses_prefill(body.get("model")):
        return "This model does not support assistant message prefill. The conversation must end with a user message."
    return None


def _openrouter_no_prefill(body: dict[str, Any]) -> Refusal | None:
    messages = body.get("messages")
    model = str(body.get("model") or "")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return None
    claude = "claude" in model.lower()  # OpenRouter routes these ids to Anthropic
    if claude and messages[-1].get("role") == "assistant" and refuses_prefill(model):
        message = _no_prefill({"messages": messages, "model": model})
        return Refusal(message or "", upstream=True)
    return None


def _openai_context_window(body: dict[str, Any], window: int) -> Refusal | None:
    message = v.openai_context_window(body, window)
    return Refusal(message, code="context_length_exceeded", param="messages") if message else None


def _openrouter_cache_control_limit(body: dict[str, Any]) -> Refusal | None:
    if "claude" not in str(body.get("model") or "").lower():  # only Anthropic counts markers
        return None
    message = v.chat_cache_control_limit(body)
    return Refusal(message, upstream=True) if message else None


def _openai_tool_call_id_length(body: dict[str, Any]) -> Refusal | None:
    for i, message in enumerate(body.get("messages") or []):
        if not isinstance(message, dict):
            continue
        for j, call in enumerate(message.get("tool_calls") or []):
            call_id = str(call.get("id", "")) if isinstance(call, dict) else ""
            if len(call_id) > 40:
                param = f"messages[{i}].tool_calls[{j}].id"
                return Refusal(
                    f"Invalid '{param}': string too long. Expected a string with maximum length 40, "
                    f"but got a string with length {len(call_id)} instead.",
                    code="string_above_max_length",
                    param=param,
                )
    return None


_ANTHROPIC: frozenset[Flavour] = frozenset({"anthropic"})
_OPENAI: frozenset[Flavour] = frozenset({"openai"})
_CHAT: frozenset[Flavour] = frozenset({"openai", "openrouter"})
_OPENROUTER: frozenset[Flavour] = frozenset({"openrouter"})
_LLAMACPP_PYTHON: frozenset[Flavour] = frozenset({"llamacpp-python"})
_LLAMA_SERVER: frozenset[Flavour] = frozenset({"llama-server"})
_VLLM: frozenset[Flavour] = frozenset({"vllm"})
_LLAMACPP_PY_SRC = "abetlen/llama-cpp-python llama_cpp/server"
_MESSAGES_DOCS = "Anthropic Messages API reference (POST /v1/messages), request validation"

RULES: tuple[Rule, ...] = (
    Rule("max_tokens_required", _ANTHROPIC, f"{_MESSAGES_DOCS}: max_tokens is required", v.max_tokens_required),
    Rule("messages_shape", _ANTHROPIC, f"{_MESSAGES_DOCS}: a non-empty list of messages", v.anthropic_shape),
    Rule(
        "text_blocks",
        _ANTHROPIC,
        "400 'text content blocks must be non-empty' / '...must contain non-whitespace text' "
        "(seen from the API in 2025-2026 issue reports, e.g. anthropics/claude-code#23440)",
        v.anthropic_text_blocks,
    ),
    Rule(
        "thinking_signature",
        _ANTHROPIC,
        "Extended thinking docs: thinking blocks are sent back with their signature",
        v.thinking_signature,
    ),
    Rule(
        "tool_use_id_pattern",
        _ANTHROPIC,
        "tool_use.id must match ^[a-zA-Z0-9_-]+$ ('String should match pattern', reported by users of "
        "cross-provider gateways)",
        v.tool_use_id_pattern,
    ),
    Rule(
        "tool_use_id_unique", _ANTHROPIC, "400 '`tool_use` ids must be unique' within a request", v.tool_use_id_unique
    ),
    Rule(
        "tool_result_adjacency",
        _ANTHROPIC,
        "Tool use docs: every tool_use has its tool_result in the very next user message, and a "
        "tool_result answers a tool_use of the message before it",
        v.tool_pairing,
    ),
    Rule(
        "cache_control_limit",
        _ANTHROPIC,
        "Prompt caching docs: at most 4 cache breakpoints; a fifth is a 400 invalid_request_error "
        "'A maximum of 4 blocks with cache_control may be provided. Found 5.' (e.g. envoyproxy/ai-gateway#1712)",
        v.cache_control_limit,
    ),
    Rule("prefill_by_model", _ANTHROPIC, "Opus 4.6 / Sonnet 4.6 migration guide: no assistant prefill", _no_prefill),
    Rule(
        "final_assistant_whitespace",
        _ANTHROPIC,
        "400 'final assistant content cannot end with trailing whitespace' (prefill, older models)",
        v.final_assistant_whitespace,
    ),
    Rule("chat_shape", _CHAT, "OpenAI chat completions reference: model, messages, roles, content", v.openai_shape),
    Rule(
        "chat_tool_pairing",
        _CHAT,
        "OpenAI: an assistant message with tool_calls is followed by a tool message for each id",
        v.openai_tool_pairing,
    ),
    Rule(
        "tool_call_id_length",
        _OPENAI,
        "OpenAI 400 string_above_max_length: tool_calls[].id is at most 40 characters",
        _openai_tool_call_id_length,
    ),
    Rule(
        "anthropic_context_window",
        _ANTHROPIC,
        "400 invalid_request_error 'prompt is too long: N tokens > M maximum', and 'input length and "
        "`max_tokens` exceed context limit: X + Y > Z' (Anthropic API errors)",
        sized=v.anthropic_context_window,
    ),
    Rule(
        "openai_context_window",
        _OPENAI,
        '400 code context_length_exceeded, "This model\'s maximum context length is N tokens. However, ..." '
        "(OpenAI chat completions)",
        sized=_openai_context_window,
    ),
    Rule(
        "openrouter_context_window",
        _OPENROUTER,
        '400 "This endpoint\'s maximum context length is N tokens. However, you requested about M tokens" (OpenRouter)',
        sized=v.openrouter_context_window,
    ),
    Rule(
        "openrouter_claude_prefill",
        _OPENROUTER,
        "Claude 4.6+ through OpenRouter: the upstream prefill refusal, wrapped as 'Provider returned error'",
        _openrouter_no_prefill,
    ),
    Rule(
        "openrouter_claude_cache_control_limit",
        _OPENROUTER,
        "Claude through OpenRouter: Anthropic's 4-breakpoint limit, wrapped as 'Provider returned error' "
        "(oguzbilgic/kern-ai#317 recovered the upstream text from it)",
        _openrouter_cache_control_limit,
    ),
    # -- local servers (each under its own base path; see local_servers.py) --
    Rule(
        "null_content",
        _LLAMACPP_PYTHON,
        f"{_LLAMACPP_PY_SRC}: ChatCompletionRequestAssistantMessage.content is NotRequired[str]; the route's "
        "handler turns the pydantic error into a 500 'N validation errors for CreateChatCompletionRequest' "
        "(seen from 0.3.36 by hand)",
        local.null_content,
    ),
    Rule(
        "missing_content",
        _LLAMACPP_PYTHON,
        f"{_LLAMACPP_PY_SRC}: llama_chat_format._map_roles reads message['content']; a message without the "
        "key is a KeyError, answered as a 500 whose message is \"'content'\"",
        local.missing_content,
    ),
    Rule(
        "llamacpp_python_context",
        _LLAMACPP_PYTHON,
        f"{_LLAMACPP_PY_SRC}: a prompt of n_ctx tokens or more raises 'Requested tokens (P) exceed context window "
        "of N', answered as a 400 context_length_exceeded unstreamed; streamed, it is raised after the 200 started "
        "and the client gets nothing (max_tokens over the room left is cut down silently)",
        sized=local.llamacpp_python_context,
    ),
    Rule(
        "llama_server_context",
        _LLAMA_SERVER,
        "ggml-org/llama.cpp tools/server: a task of n_ctx tokens or more is a 400 exceed_context_size_error with "
        "n_prompt_tokens and n_ctx; streamed too (the first result's error is sent as the HTTP response)",
        sized=local.llama_server_context,
    ),
    Rule(
        "vllm_context",
        _VLLM,
        "vllm-project/vllm entrypoints/openai: a prompt over max_model_len, or prompt + max_tokens over it, is a 400 "
        "BadRequestError, streamed or not (validated before the stream starts)",
        sized=local.vllm_context,
    ),
)


def check_request(flavour: Flavour, body: dict[str, Any], window: int | None = None) -> Refusal | None:
    """The first refusal the real API would give this body, or None; ``window`` is the
    context window of the body's model (None: no size limit is simulated)."""
    for rule in RULES:
        if flavour not in rule.flavours:
            continue
        if rule.sized is not None:
            found = rule.sized(body, window) if window is not None else None
        elif rule.check is not None:
            found = rule.check(body)
        else:
            continue
        if found is not None:
            return found if isinstance(found, Refusal) else Refusal(found)
    return None
