"""Named provider profiles: wire, endpoint, key variable and per-provider quirks.

Every provider-specific decision that is not about the wire format lives here or in
the model catalog, decided once when the provider is built.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlparse

from agent.models import ModelInfo

Wire = Literal["anthropic_messages", "chat_completions"]
# Which models get cache_control breakpoints through this provider.
CacheBreakpoints = Literal["all", "claude", "none"]
# How the per-session cache key travels: OpenAI's ``prompt_cache_key`` body field,
# OpenRouter's ``x-session-id`` sticky-routing header, or not at all.
CacheKeyMode = Literal["body", "session_header", "none"]
WIRES: tuple[Wire, ...] = ("anthropic_messages", "chat_completions")
FINE_GRAINED_TOOL_STREAMING = "fine-grained-tool-streaming-2025-05-14"
# Room kept for the estimate's error when clamping max_tokens to the context window.
_CONTEXT_MARGIN = 1_024
_MIN_OUTPUT = 1_024
# Below this much room a request to a local server would not fit anyway: send no limit
# and let the server report the overflow in its own words.
_MIN_LOCAL_OUTPUT = 16


class ProfileError(ValueError):
    """A provider name, wire or endpoint that cannot work; the message says what to do."""


@dataclass(frozen=True, slots=True)
class ProviderProfile:
    name: str
    wire: Wire
    base_url: str | None
    key_env: str | None
    default_model: str | None
    key_required: bool = True
    # Claude models through this provider get the catalog's real output limit and the
    # fine-grained tool streaming header (OpenRouter applies a low default otherwise and
    # its proxy kills a tool call that streams nothing for ~125 s).
    claude_output_limit: bool = False
    claude_fine_grained_header: bool = False
    max_tokens_field: str = "max_tokens"
    extra_headers: dict[str, str] = field(default_factory=dict)
    # A trailing assistant message reaches the model as a prefill it continues (the
    # Anthropic wire; OpenRouter forwards it so to Claude). Plain chat endpoints answer
    # it with a new reply instead. Whether the model takes it is the catalog's call.
    prefill_passthrough: bool = False
    notices: tuple[str, ...] = ()  # what resolving the profile corrected, for the user to hear
    cache_breakpoints: CacheBreakpoints = "none"
    cache_key: CacheKeyMode = "none"
    # ``content`` of an assistant message that has tool calls and no text: None sends
    # JSON null (OpenAI's own shape); "" an empty string, which every compatible server
    # takes (llama-cpp-python refuses null with a 500 and breaks on a missing key).
    tool_call_content: str | None = ""
    # Send ``tool_choice: "auto"`` with the tools: some servers offer the model no tools
    # without it (llama-cpp-python's function-calling formats). False for a server that
    # refuses the field (``[providers.NAME] tool_choice = false``).
    sends_tool_choice: bool = True
    # A local endpoint of this profile is a model server whose own context size decides
    # the window and max_tokens (the custom profile; a named provider pointed at a local
    # gateway keeps its own rules).
    server_limits: bool = False

    @property
    def is_local(self) -> bool:
        return is_local_url(self.base_url)

    @property
    def reads_server_limits(self) -> bool:
        """A local chat server: its own context size decides the window and max_tokens."""
        return self.server_limits and self.is_local and self.wire == "chat_completions"

    def with_overrides(
        self,
        *,
        base_url: str | None = None,
        key_env: str | None = None,
        prompt_caching: bool | None = None,
        prompt_cache_key: bool | None = None,
        tool_choice: bool | None = None,
    ) -> ProviderProfile:
        """This profile with the user's settings (``[providers.NAME]`` of the config
        file); None keeps the profile's own. ``prompt_caching`` true marks breakpoints
        for every model, false for none; ``prompt_cache_key`` true sends OpenAI's
        ``prompt_cache_key`` field, false sends no cache key; ``tool_choice`` false sends
        no ``tool_choice`` (for a server that refuses the field)."""
        changes: dict[str, Any] = {}
        if base_url:
            _check_url(base_url)
            changes["base_url"] = base_url
        if key_env:
            changes["key_env"] = key_env
        if prompt_caching is not None:
            changes["cache_breakpoints"] = "all" if prompt_caching else "none"
        if prompt_cache_key is not None:
            changes["cache_key"] = "body" if prompt_cache_key else "none"
        if tool_choice is not None:
            changes["sends_tool_choice"] = tool_choice
        return replace(self, **changes) if changes else self

    def marks_breakpoints(self, model: ModelInfo) -> bool:
        """Whether requests for ``model`` carry cache_control breakpoints."""
        return self.cache_breakpoints == "all" or (self.cache_breakpoints == "claude" and model.family == "claude")

    def resolve_key(self, explicit: str | None) -> str | None:
        if explicit:
            return explicit
        return os.environ.get(self.key_env) if self.key_env else None

    def output_tokens(
        self, model: ModelInfo, explicit: int | None, estimated_input: int, server_window: int | None = None
    ) -> int | None:
        """The max_tokens to send: the user's value wins; else the wire or quirk decides.
        A local server gets what is left of the context it reports (at most the model's
        known output limit), or no limit when it reports none: its default is the rest
        of its context."""
        if explicit is not None:
            return explicit
        if self.reads_server_limits:
            return _local_output_tokens(model, estimated_input, server_window)
        needs_limit = self.wire == "anthropic_messages" or (self.claude_output_limit and model.family == "claude")
        if not needs_limit:
            return None  # the server's own default is right for this provider
        room = model.context_window - estimated_input - _CONTEXT_MARGIN
        return max(_MIN_OUTPUT, min(model.max_output_tokens, room))

    def cut_means_full_context(
        self, model: ModelInfo, explicit: int | None, sent: int | None, estimated_input: int, window: int | None
    ) -> bool:
        """Whether a reply cut by its length limit on this endpoint was cut by a full
        context (so continuing it cannot help): a local server that got no limit, or a
        limit that took what was left of the context it reports, or the room stayline
        computed itself below a known model's own limit. A user's small limit is not."""
        if not self.reads_server_limits:
            return False
        if sent is None:
            return True
        if window is not None and estimated_input + sent >= window - max(2 * _CONTEXT_MARGIN, window // 4):
            return True
        return explicit is None and (not model.known or sent < model.max_output_tokens)

    def request_headers(self, model: ModelInfo) -> dict[str, str]:
        headers = dict(self.extra_headers)
        if self.claude_fine_grained_header and model.family == "claude":
            headers["x-anthropic-beta"] = FINE_GRAINED_TOOL_STREAMING
        return headers


PROFILES: dict[str, ProviderProfile] = {
    "anthropic": ProviderProfile(
        "anthropic",
        "anthropic_messages",
        "https://api.anthropic.com",
        "ANTHROPIC_API_KEY",
        "claude-sonnet-4-6",
        cache_breakpoints="all",
    ),
    "openai": ProviderProfile(
        "openai",
        "chat_completions",
        "https://api.openai.com/v1",
        "OPENAI_API_KEY",
        "gpt-4.1",
        max_tokens_field="max_completion_tokens",
        cache_key="body",  # prompt_cache_key: documented on chat completions
        tool_call_content=None,
    ),
    "openrouter": ProviderProfile(
        "openrouter",
        "chat_completions",
        "https://openrouter.ai/api/v1",
        "OPENROUTER_API_KEY",
        "anthropic/claude-sonnet-4.6",
        claude_output_limit=True,
        claude_fine_grained_header=True,
        extra_headers={"X-Title": "stayline"},
        prefill_passthrough=True,
        # OpenRouter forwards cache_control in content parts to Anthropic; it derives its
        # own upstream prompt_cache_key, and routes a session stickily by x-session-id.
        cache_breakpoints="claude",
        cache_key="session_header",
        tool_call_content=None,
    ),
    # An unknown server may refuse fields it does not know: no cache key unless the
    # config file asks; Claude models (a gateway to Anthropic) get breakpoints.
    "custom": ProviderProfile(
        "custom",
        "chat_completions",
        None,
        "STAYLINE_API_KEY",
        None,
        key_required=False,
        cache_breakpoints="claude",
        server_limits=True,
    ),
}


def _local_output_tokens(model: ModelInfo, estimated_input: int, window: int | None) -> int | None:
    if window is None:
        return None
    room = window - estimated_input - min(_CONTEXT_MARGIN, window // 8)
    if room < _MIN_LOCAL_OUTPUT:
        return None
    return min(model.max_output_tokens, room) if model.known else room


def infer_wire(base_url: str) -> Wire:
    """A custom endpoint whose URL path ends in ``/anthropic`` speaks Anthropic Messages."""
    path = urlparse(base_url).path.rstrip("/")
    return "anthropic_messages" if path.endswith("/anthropic") else "chat_completions"


def resolve_profile(name: str, base_url: str | None = None, api_mode: str | None = None) -> ProviderProfile:
    """The profile for ``name`` with the user's endpoint and wire applied."""
    profile = PROFILES.get(name)
    if profile is None:
        raise ProfileError(f"unknown provider {name!r}; choose one of: {', '.join(PROFILES)}")
    if api_mode is not None and api_mode not in WIRES:
        raise ProfileError(f"unknown --api-mode {api_mode!r}; choose one of: {', '.join(WIRES)}")
    if name == "custom" and not base_url:
        raise ProfileError("the custom provider needs an endpoint: pass --base-url URL")
    if base_url:
        _check_url(base_url)
    wire: Wire = profile.wire
    if api_mode is not None:
        wire = api_mode
    elif name == "custom" and base_url:
        wire = infer_wire(base_url)
    if api_mode is not None and name != "custom" and api_mode != profile.wire:
        raise ProfileError(f"provider {name} speaks {profile.wire}; --api-mode {api_mode} needs --provider custom")
    notices: tuple[str, ...] = ()
    if base_url and wire == "anthropic_messages":
        base_url, notices = _without_v1(base_url)
    return replace(
        profile,
        wire=wire,
        base_url=base_url or profile.base_url,
        extra_headers=dict(profile.extra_headers),
        prefill_passthrough=profile.prefill_passthrough or wire == "anthropic_messages",
        notices=notices,
    )


def _without_v1(base_url: str) -> tuple[str, tuple[str, ...]]:
    """The Anthropic SDK adds /v1/messages itself: a base URL ending in /v1 would ask for
    /v1/v1/messages, which no server answers. Drop it, and say so."""
    trimmed = base_url.rstrip("/")
    if not trimmed.endswith("/v1"):
        return base_url, ()
    fixed = trimmed[: -len("/v1")]
    return fixed, (f"the Anthropic wire adds /v1/messages itself: using base URL {fixed} instead of {base_url}",)


def _check_url(url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ProfileError(f"--base-url {url!r} is not an http(s) URL such as http://127.0.0.1:8080/v1")


def is_local_url(url: str | None) -> bool:
    """Loopback or private-network endpoints (local model servers are slow to start)."""
    if not url:
        return False
    host = urlparse(url).hostname or ""
    if host in ("localhost", "host.docker.internal") or host.endswith(".local"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local
