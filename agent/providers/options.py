"""What a provider is built with besides its profile and model: the user's settings that
shape its requests, its client and its stall limits, handed over once at construction."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.providers.caching import CachePolicy


@dataclass(frozen=True, slots=True)
class ProviderOptions:
    """``stale_timeout``/``first_token_timeout``: this provider's own stall limits (None:
    the agent's, else the defaults). ``gateway``: the endpoint is a gateway to cloud
    models even on 127.0.0.1 (cloud stall limits). ``eager_tool_streaming``: True for
    the per-tool field, "header" for the older beta header, False for neither, None for
    what the catalog says of the model."""

    timeout: float = 600.0
    eager_tool_streaming: bool | str | None = None
    caching: CachePolicy = field(default_factory=CachePolicy)
    stale_timeout: float | None = None
    first_token_timeout: float | None = None
    gateway: bool = False
