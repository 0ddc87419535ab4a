"""Build the provider for a profile; the one place that maps a wire to its adapter."""

from __future__ import annotations

from agent.models import ModelCatalog
from agent.providers.base import Provider
from agent.providers.caching import CachePolicy
from agent.providers.profiles import ProviderProfile


def build_provider(
    profile: ProviderProfile,
    model: str,
    api_key: str | None,
    catalog: ModelCatalog | None = None,
    *,
    timeout: float = 600.0,
    eager_tool_streaming: bool | str | None = None,
    caching: CachePolicy | None = None,
) -> Provider:
    catalog = catalog or ModelCatalog()
    if profile.wire == "anthropic_messages":
        from agent.providers.anthropic_messages import AnthropicMessagesProvider

        return AnthropicMessagesProvider(
            profile,
            model,
            api_key,
            catalog,
            timeout=timeout,
            eager_tool_streaming=eager_tool_streaming,
            caching=caching,
        )
    from agent.providers.chat_completions import ChatCompletionsProvider

    return ChatCompletionsProvider(
        profile, model, api_key, catalog, timeout=timeout, eager_tool_streaming=eager_tool_streaming, caching=caching
    )
