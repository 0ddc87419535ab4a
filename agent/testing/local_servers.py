"""The local servers the simulator plays: llama.cpp (through llama-cpp-python's server and
its own llama-server), vLLM and Ollama, each on the chat-completions wire under its own
base path of the same simulator (``/llamacpp-python/v1``, ``/llama-server/v1``,
``/vllm/v1``, ``/ollama/v1``).

Each server has the endpoints that say what it runs (``/v1/models``; llama-server's
``/props``; Ollama's ``/api/ps`` and ``/api/show``), its own error shape, its own usage
habits, and the refusals of ``rules.py`` for its flavour. What a server does with a
reply that it cannot deliver the way it was asked (the behaviours at the end) depends on
the scripted reply, so it lives here rather than in the request rules.

Facts, from the servers' sources (abetlen/llama-cpp-python 0.3.x ``llama_cpp/server``,
ggml-org/llama.cpp ``tools/server``, vllm-project/vllm ``entrypoints/openai``,
ollama/ollama ``openai`` and ``server``) and from llama-cpp-python 0.3.36 run by hand.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeGuard, get_args

from agent.testing.script import Flavour, HttpError, LocalFlavour, Reply, ToolCall

PATHS: dict[LocalFlavour, str] = {flavour: "/" + flavour for flavour in get_args(LocalFlavour)}
CHARS_PER_TOKEN = 4
ROOT_MODEL = "gpt-4o"  # what the root's /v1/models lists


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """How a simulated local server was started: the models it serves (ids as its
    ``/v1/models`` lists them) and its context size in tokens."""

    models: tuple[str, ...]
    context_size: int


DEFAULT_SETTINGS: dict[LocalFlavour, ServerSettings] = {
    # llama-cpp-python lists the model file's path as its id (no --model_alias).
    "llamacpp-python": ServerSettings(("/models/gemma-3-270m-it-Q4_K_M.gguf",), 8_192),
    "llama-server": ServerSettings(("gemma-3-270m-it",), 8_192),
    "vllm": ServerSettings(("Qwen/Qwen3-8B",), 32_768),
    "ollama": ServerSettings(("qwen3:8b",), 8_192),
}


def is_local(flavour: Flavour) -> TypeGuard[LocalFlavour]:
    return flavour in PATHS


def split_path(path: str) -> tuple[LocalFlavour, str] | None:
    """``/vllm/v1/models`` -> ("vllm", "/v1/models")."""
    for flavour, prefix in PATHS.items():
        if path == prefix or path.startswith(prefix + "/"):
            return flavour, path[len(prefix) :] or "/"
    return None


def prompt_tokens(body: dict[str, Any]) -> int:
    """The simulator's own count of a request's prompt: four characters of its JSON
    messages and tools each (deterministic; a real tokenizer differs, as stayline's
    estimate does from this one)."""
    text = json.dumps([body.get("messages"), body.get("tools")], separators=(",", ":"), ensure_ascii=False)
    return math.ceil(len(text) / CHARS_PER_TOKEN)


# -- what the servers say about themselves ---------------------------------------------


def info_answer(
    method: str, path: str, raw: bytes | None, settings: Callable[[LocalFlavour], ServerSettings]
) -> tuple[int, Any] | None:
    """(status, JSON body) for a request to a local server's base path that is not a
    chat completion, or None when the path is not a local server's."""
    found = split_path(path)
    if found is None:
        if method == "GET" and path.rstrip("/") == "/v1/models":  # the plain OpenAI flavour at the root
            card = {"id": ROOT_MODEL, "object": "model", "created": int(time.time()), "owned_by": "system"}
            return 200, {"object": "list", "data": [card]}
        return None
    flavour, subpath = found
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    answer = info(flavour, method, subpath, body, settings(flavour))
    return (answer.status, answer.body) if isinstance(answer, HttpError) else (200, answer)


def info(flavour: LocalFlavour, method: str, subpath: str, body: Any, settings: ServerSettings) -> HttpError | Any:
    """The answer of a local server's information endpoint (a JSON value), or an
    HttpError (404 for what this server does not have)."""
    created = int(time.time())
    if method == "GET" and subpath.rstrip("/") == "/v1/models":
        return {"object": "list", "data": [_model_card(flavour, m, settings, created) for m in settings.models]}
    if flavour == "llama-server" and method == "GET" and subpath == "/props":
        return {
            "default_generation_settings": {"n_ctx": settings.context_size, "params": {"n_predict": -1}},
            "total_slots": 1,
            "model_path": f"/models/{settings.models[0]}.gguf",
            "chat_template": "{{ messages }}",
        }
    if flavour == "ollama" and method == "GET" and subpath == "/api/ps":
        return {"models": []}  # nothing loaded yet: /api/show is what tells
    if flavour == "ollama" and method == "POST" and subpath == "/api/show":
        name = body.get("model") if isinstance(body, dict) else None
        if name not in settings.models:
            return HttpError(404, f"model '{name}' not found", body={"error": f"model '{name}' not found"})
        return {
            "parameters": f'num_ctx{" " * 24}{settings.context_size}\nstop{" " * 27}"<|im_end|>"',
            "model_info": {"general.architecture": "qwen3", "qwen3.context_length": 40_960},
            "capabilities": ["completion", "tools"],
        }
    return HttpError(404, "Not Found", body={"detail": "Not Found"})


def _model_card(flavour: LocalFlavour, model: str, settings: ServerSettings, created: int) -> dict[str, Any]:
    if flavour == "llamacpp-python":
        return {"id": model, "object": "model", "owned_by": "me", "permissions": []}
    if flavour == "llama-server":  # meta.n_ctx_train is what the model was trained for, not what runs
        meta = {"n_ctx_train": 32_768}
        return {"id": model, "object": "model", "created": created, "owned_by": "llamacpp", "meta": meta}
    if flavour == "vllm":
        return {
            "id": model,
            "object": "model",
            "created": created,
            "owned_by": "vllm",
            "root": model,
            "parent": None,
            "max_model_len": settings.context_size,
        }
    return {"id": model, "object": "model", "created": created, "owned_by": "library"}


def with_settings(settings: ServerSettings, **changes: Any) -> ServerSettings:
    if "models" in changes:
        changes["models"] = tuple(changes["models"])
    return replace(settings, **changes)


# -- error shapes -----------------------------------------------------------------------


def error_body(
    flavour: LocalFlavour,
    status: int,
    message: str,
    type_: str | None,
    *,
    code: str | None = None,
    param: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An error in the server's own JSON shape (``extra``: llama-server's counts)."""
    if flavour == "llama-server":  # format_error_response: code, message, type (+ counts)
        kind = type_ or ("invalid_request_error" if status < 500 else "server_error")
        return {"error": {"code": status, "message": message, "type": kind, **(extra or {})}}
    if flavour == "vllm":  # ErrorResponse(error=ErrorInfo): code is the HTTP status
        return {"error": {"message": message, "type": type_ or "BadRequestError", "param": None, "code": status}}
    if flavour == "ollama":
        return {"error": {"message": message, "type": type_ or "invalid_request_error", "param": None, "code": None}}
    kind = type_ or ("internal_server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


# -- behaviours that depend on the scripted reply ---------------------------------------


@dataclass(frozen=True, slots=True)
class FailedStream:
    """A 200 stream that ends with nothing in it: llama-cpp-python raises inside its
    event publisher after the response started, and the body just ends (seen by hand
    from 0.3.36: a properly ended chunked body, at most a ": ping" comment in it)."""

    log: str  # what the server prints in its own log


def adapt(flavour: Flavour, body: dict[str, Any], reply: Reply) -> Reply | FailedStream:
    """What the server makes of ``reply`` for this request."""
    if flavour != "llamacpp-python" or not body.get("tools"):
        return reply
    calls = any(isinstance(item, ToolCall) for item in reply.items)
    choice = body.get("tool_choice")
    if choice is None or choice == "none":
        # chatml-function-calling, case 1: the prompt is rendered with tools=[]; the
        # model never sees the tools, so it cannot call one.
        return Reply(*(i for i in reply.items if not isinstance(i, ToolCall)), stop="end_turn", usage=reply.usage)
    if choice == "auto" and calls and body.get("stream") is True:
        # case 3: the model chose a function, and that path only exists unstreamed.
        return FailedStream("ValueError: Automatic streaming tool choice is not supported")
    return reply


def streams_usage(flavour: Flavour) -> bool:
    """llama-cpp-python sends no usage in a stream whatever ``stream_options`` says."""
    return flavour != "llamacpp-python"
