"""What an OpenAI-compatible server says about itself: the models it serves and, for a
local one, the context size it runs with.

Each fact comes from an endpoint the server documents:

- every compatible server: ``GET /v1/models`` (the ids; ``owned_by`` names the server:
  "llamacpp" llama-server, "vllm", "library" or another namespace for Ollama,
  "organization_owner" LM Studio, "me" llama-cpp-python); vLLM adds ``max_model_len``;
- llama.cpp's llama-server: ``GET /props`` -> ``default_generation_settings.n_ctx``
  (the context of one slot, which is what one request gets);
- Ollama (owner "library", or another namespace on its port 11434): ``GET /api/ps``
  -> ``context_length`` of the loaded model, else ``POST
  /api/show`` -> the ``num_ctx`` parameter, else ``model_info["<arch>.context_length"]``;
- LM Studio: ``GET /api/v0/models/ID`` -> ``loaded_context_length``, else
  ``max_context_length``.

llama-cpp-python reports its context size nowhere but in its 400 for a prompt that does
not fit ("This model's maximum context length is N tokens"). Standard library only
(imported when used), short timeouts, and nothing here raises except ``list_models``,
whose error message is meant for the user.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlparse, urlunparse

PROBE_TIMEOUT = 2.0
OLLAMA_PORT = 11434
_MAX_BODY = 2_000_000
_NUM_CTX = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.MULTILINE)
# "This model's maximum context length is 2048 tokens" (llama-cpp-python, vLLM, OpenAI);
# "... exceeds the available context size (4096 tokens)" (llama-server).
_WINDOW_IN_ERROR = re.compile(r"maximum context length is (\d+) tokens|context size \((\d+) tokens\)")


class ServerUnreachable(Exception):
    """The model list could not be read; the message says why, in the user's terms."""


@dataclass(frozen=True, slots=True)
class ModelListing:
    """``GET /v1/models`` as read: ids in the server's order, and their raw entries."""

    ids: tuple[str, ...]
    entries: tuple[Mapping[str, Any], ...]

    @property
    def owners(self) -> frozenset[str]:
        return frozenset(str(e.get("owned_by")) for e in self.entries if e.get("owned_by") is not None)

    def entry(self, model: str) -> Mapping[str, Any] | None:
        """The entry of ``model``, or the only entry (servers that serve one model take any name)."""
        for entry in self.entries:
            if entry.get("id") == model:
                return entry
        return self.entries[0] if len(self.entries) == 1 else None


def server_root(base_url: str) -> str:
    """``http://host:port/v1`` -> ``http://host:port`` (where /props and /api live)."""
    parsed = urlparse(base_url)
    path = parsed.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return urlunparse(parsed._replace(path=path, params="", query="", fragment=""))


def _request_json(url: str, api_key: str | None, timeout: float, payload: Mapping[str, Any] | None = None) -> Any:
    import urllib.request

    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    data = None
    if payload is not None:
        data = json.dumps(payload).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read(_MAX_BODY))


def list_models(base_url: str, api_key: str | None, timeout: float = PROBE_TIMEOUT) -> ModelListing:
    """The models ``base_url`` serves. Raises ``ServerUnreachable`` with the reason."""
    import urllib.error

    url = base_url.rstrip("/") + "/models"
    try:
        body = _request_json(url, api_key, timeout)
    except urllib.error.HTTPError as exc:
        raise ServerUnreachable(f"GET {url} answered HTTP {exc.code}") from None
    except TimeoutError:
        raise ServerUnreachable(
            f"GET {url} did not answer in {timeout:g} s; a local server busy generating answers nothing else"
        ) from None
    except (OSError, ValueError) as exc:  # refused, not JSON
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, TimeoutError):
            raise ServerUnreachable(
                f"GET {url} did not answer in {timeout:g} s; a local server busy generating answers nothing else"
            ) from None
        raise ServerUnreachable(f"GET {url} failed: {reason}") from None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise ServerUnreachable(f"GET {url} did not return a model list")
    entries = tuple(e for e in data if isinstance(e, dict) and isinstance(e.get("id"), str))
    return ModelListing(tuple(str(e["id"]) for e in entries), entries)


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _quiet(url: str, api_key: str | None, timeout: float, payload: Mapping[str, Any] | None = None) -> Any:
    """A probe whose failure only means "this server does not say"."""
    try:
        return _request_json(url, api_key, timeout, payload)
    except (OSError, ValueError):
        return None


def _llama_server_window(root: str, api_key: str | None, timeout: float) -> int | None:
    props = _quiet(root + "/props", api_key, timeout)
    settings = props.get("default_generation_settings") if isinstance(props, dict) else None
    return _positive(settings.get("n_ctx")) if isinstance(settings, dict) else None


def _ollama_window(root: str, api_key: str | None, model: str, timeout: float) -> int | None:
    running = _quiet(root + "/api/ps", api_key, timeout)
    for entry in running.get("models") or [] if isinstance(running, dict) else []:
        if isinstance(entry, dict) and model in (entry.get("name"), entry.get("model")):
            found = _positive(entry.get("context_length"))
            if found:
                return found
    shown = _quiet(root + "/api/show", api_key, timeout, {"model": model})
    if not isinstance(shown, dict):
        return None
    match = _NUM_CTX.search(str(shown.get("parameters") or ""))
    if match:
        return int(match.group(1))
    info = shown.get("model_info")
    if isinstance(info, dict):
        for key, value in info.items():
            if str(key).endswith(".context_length") and _positive(value):
                return int(value)
    return None


def _lm_studio_window(root: str, api_key: str | None, model: str, timeout: float) -> int | None:
    entry = _quiet(f"{root}/api/v0/models/{quote(model, safe='')}", api_key, timeout)
    if not isinstance(entry, dict):
        return None
    return _positive(entry.get("loaded_context_length")) or _positive(entry.get("max_context_length"))


def read_context_window(base_url: str, api_key: str | None, model: str, timeout: float = PROBE_TIMEOUT) -> int | None:
    """The context size the server at ``base_url`` runs ``model`` with, or None when it
    does not say. Never raises."""
    try:
        listing = list_models(base_url, api_key, timeout)
    except ServerUnreachable:
        return None
    entry = listing.entry(model) or {}
    window = _positive(entry.get("max_model_len"))  # vLLM
    if window:
        return window
    # Only the server the owner names is asked further: a stranger gets no probes of
    # other servers' endpoints. llama-cpp-python ("me") has none; its overflow error names it.
    owner = str(entry.get("owned_by") or "")
    root = server_root(base_url)
    if owner == "llamacpp":
        return _llama_server_window(root, api_key, timeout)
    if owner == "organization_owner":
        return _lm_studio_window(root, api_key, model, timeout)
    if owner == "library" or urlparse(base_url).port == OLLAMA_PORT:  # Ollama names other owners by namespace
        return _ollama_window(root, api_key, model, timeout)
    return None


def window_in_error(message: str) -> int | None:
    """The context size a server names in its context-length error, if it names one."""
    match = _WINDOW_IN_ERROR.search(message)
    if match is None:
        return None
    return int(match.group(1) or match.group(2))
