"""Building an agent's providers from settings: the primary and its fallback chain."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import replace

from agent.config import FallbackSpec, Settings, effective_provider
from agent.errors import ConfigError, MissingKeyError
from agent.models import ModelCatalog, normalise_model_id
from agent.providers.base import Provider
from agent.providers.caching import CachePolicy
from agent.providers.factory import build_provider
from agent.providers.options import ProviderOptions
from agent.providers.profiles import ProfileError, resolve_profile
from agent.recovery.fallback import ProviderChain
from agent.streaming.watchdog import Clock

MAX_LISTED = 20  # models shown when the user has to choose
LIST_TIMEOUT = 10.0  # the user is waiting for it; a busy local server may take a while


def provider_from(settings: Settings) -> Provider:
    """The provider the settings name; a clear ConfigError when it cannot work."""
    name = effective_provider(settings.provider, settings.base_url)
    overrides = settings.provider_overrides.get(name, {})  # [providers.NAME] of the config file
    try:
        profile = resolve_profile(name, settings.base_url or overrides.get("base_url"), settings.api_mode)
        profile = profile.with_overrides(
            key_env=overrides.get("key_env"),
            prompt_caching=overrides.get("prompt_caching"),
            prompt_cache_key=overrides.get("prompt_cache_key"),
            tool_choice=overrides.get("tool_choice"),
        )
    except ProfileError as exc:
        raise ConfigError(str(exc)) from None
    key = profile.resolve_key(settings.api_key)
    if profile.key_required and not key:
        raise MissingKeyError(f"no API key for provider {profile.name}: set {profile.key_env} or pass --api-key")
    model = settings.model or profile.default_model or _listed_model(profile.base_url, key)
    eager = settings.eager_tool_streaming
    options = ProviderOptions(
        timeout=settings.request_timeout,
        eager_tool_streaming=eager if eager is not None else overrides.get("eager_tool_streaming"),
        caching=CachePolicy(settings.prompt_caching, settings.cache_ttl),
        stale_timeout=settings.stale_timeout,
        first_token_timeout=settings.first_token_timeout,
        gateway=bool(overrides.get("gateway")),  # declared in [providers.NAME]: not a local model
    )
    return build_provider(profile, model, key, ModelCatalog(settings.model_overrides), options)


def _listed_model(base_url: str | None, key: str | None) -> str:
    """No model named for an endpoint without a default: the one model it lists."""
    from agent.providers.server_info import ServerUnreachable, list_models

    if not base_url:
        raise ConfigError("this provider has no default model: pass --model NAME")
    try:
        listed = list_models(base_url, key, LIST_TIMEOUT).ids
    except ServerUnreachable as exc:
        raise ConfigError(
            f"no --model given and the endpoint's model list could not be read ({exc}); pass --model NAME"
        ) from None
    if len(listed) == 1:
        return listed[0]
    if not listed:
        raise ConfigError(f"no --model given and {base_url} lists no models; load one, or pass --model NAME")
    shown = "\n".join(f"  --model {shlex.quote(m)}" for m in listed[:MAX_LISTED])
    more = f"\n  ... and {len(listed) - MAX_LISTED} more" if len(listed) > MAX_LISTED else ""
    raise ConfigError(f"no --model given and {base_url} serves {len(listed)} models; choose one:\n{shown}{more}")


def fallback_settings(settings: Settings, spec: FallbackSpec) -> Settings:
    """A fallback entry's settings: its own endpoint and key, the rest shared."""
    return replace(
        settings,
        provider=spec.provider,
        model=spec.model,
        base_url=spec.base_url,
        api_mode=spec.api_mode,
        api_key=spec.api_key,
        fallbacks=(),
        stale_timeout=settings.stale_timeout
        if settings.stale_timeout_explicit
        else _file_seconds(settings, "stale_timeout", spec, settings.file_stale_timeout),
        first_token_timeout=settings.first_token_timeout
        if settings.first_token_timeout_explicit
        else _file_seconds(settings, "first_token_timeout", spec, settings.file_first_token_timeout),
    )


def _file_seconds(settings: Settings, key: str, spec: FallbackSpec, top: float | None) -> float | None:
    """The config file's ``key`` for this fallback's provider and model: per model, then
    per provider, then the file's top level (None: the endpoint's default)."""
    wanted = normalise_model_id(spec.model)
    for name, table in settings.model_overrides.items():
        if normalise_model_id(name) == wanted and table.get(key) is not None:
            return float(table[key])
    value = settings.provider_overrides.get(spec.provider, {}).get(key)
    return float(value) if value is not None else top


ProviderWrapper = Callable[[Provider], Provider]


def build_chain(
    settings: Settings, primary: Provider | None, clock: Clock, wrap: ProviderWrapper | None = None
) -> ProviderChain:
    """The primary and its fallbacks; ``wrap`` (e.g. a batch's rate limiter) is applied to
    every provider of the chain, the primary and each fallback as it is built."""

    def wrapped(provider: Provider) -> Provider:
        return wrap(provider) if wrap is not None else provider

    return ProviderChain(
        wrapped(primary if primary is not None else provider_from(settings)),
        list(settings.fallbacks),
        lambda spec: wrapped(provider_from(fallback_settings(settings, spec))),
        cooldown=settings.fallback_cooldown,
        clock=clock,
    )
