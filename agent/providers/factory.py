"""Build the provider for a profile; the one place that maps a wire to its adapter."""

from __future__ import annotations

from agent.models import ModelCatalog
from agent.providers.base import Provider
from agent.providers.options import ProviderOptions
from agent.providers.profiles import ProviderProfile


def build_provider(
    profile: ProviderProfile,
    model: str,
    api_key: str | None,
    catalog: ModelCatalog | None = None,
    options: ProviderOptions | None = None,
) -> Provider:
    """The provider for ``profile``'s wire, with everything it needs from the start."""
    catalog = catalog or ModelCatalog()
    options = options or ProviderOptions()
    if profile.wire == "anthropic_messages":
        from agent.providers.anthropic_messages import AnthropicMessagesProvider

        return AnthropicMessagesProvider(profile, model, api_key, catalog, options)
    from agent.providers.chat_completions import ChatCompletionsProvider

    return ChatCompletionsProvider(profile, model, api_key, catalog, options)
