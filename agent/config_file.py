"""The config file, ``$STAYLINE_HOME/config.toml`` (``--config PATH`` names another),
merged with the flags and the environment into one ``Settings``.

Precedence: flags > environment > file > defaults. Inside the file, a ``[models."ID"]``
value beats a ``[providers.NAME]`` value, which beats the top level (``stale_timeout``,
``max_tokens``). The keys the file may hold, and how each is checked, are in
``agent/config_reader.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.config import CompactionSettings, FallbackSpec, Settings, effective_provider, settings_from_env
from agent.config_reader import FileConfig, read_config
from agent.errors import ConfigError
from agent.providers.profiles import PROFILES

CONFIG_NAME = "config.toml"
# Top-level keys that become the setting of the same name as they are.
_TOP_AS_IS = (
    "max_iterations",
    "max_retries",
    "approval",
    "fallback_cooldown",
    "env_passthrough",
    "sandbox",
    "sandbox_network",
    "prompt_caching",
    "cache_ttl",
    "stream",
    "max_continuations",
    "retry_budget",
    "repeat_limit",
    "escalate_early",
)


def config_path(home: Path, explicit: str | Path | None = None) -> Path:
    """The config file: ``explicit`` (``--config PATH``), else ``config.toml`` in ``home``."""
    return Path(explicit).expanduser() if explicit is not None else home / CONFIG_NAME


def check_fallback_flag(text: str) -> FallbackSpec:
    """A ``--fallback`` value, checked now rather than when the turn needs it."""
    spec = FallbackSpec.parse(text)
    if spec.provider not in PROFILES:
        raise ConfigError(
            f"--fallback {text!r}: unknown provider {spec.provider!r}; choose one of: {', '.join(PROFILES)}"
        )
    return spec


def resolve_settings(
    config: FileConfig, flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """One ``Settings`` from the flags, the environment and the file, in that order.

    ``flags`` uses ``Settings`` field names (None: not given); ``fallbacks`` may hold
    ``--fallback`` strings.
    """
    given = _given_flags(flags)
    env = settings_from_env(environ)
    top = config.top

    provider = given.get("provider") or env.get("provider") or top.get("provider")
    effective = effective_provider(provider, given.get("base_url"), environ)
    # The file's model belongs to the file's provider: a provider chosen by a flag or the
    # environment does not inherit a model name it may not serve.
    file_model = top.get("model") if top.get("provider") in (None, effective) else None
    model = given.get("model") or env.get("model") or file_model

    values = _file_values(config, effective, model)
    values["stale_timeout_explicit"] = (given.get("stale_timeout") or env.get("stale_timeout")) is not None
    values["first_token_timeout_explicit"] = (
        given.get("first_token_timeout") or env.get("first_token_timeout")
    ) is not None
    values.update(env)
    values.update(given)
    values["provider"] = provider
    values["model"] = model
    try:
        settings = Settings().with_values(**values)
    except TypeError as exc:  # a caller passed a flag name that is not a setting
        raise ConfigError(str(exc)) from None
    return settings.validated()


def load_settings(
    path: Path | None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    required: bool = False,
) -> Settings:
    """Read the config file at ``path`` (None: no file) and resolve the settings."""
    config = read_config(path, required=required) if path is not None else FileConfig()
    return resolve_settings(config, flags, environ)


def _given_flags(flags: Mapping[str, Any] | None) -> dict[str, Any]:
    """The flags that were given, ``--fallback`` strings checked and a workdir as a path."""
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    if "fallbacks" in given:
        given["fallbacks"] = tuple(
            check_fallback_flag(f) if isinstance(f, str) else FallbackSpec.coerce(f) for f in given["fallbacks"]
        )
    if isinstance(given.get("workdir"), str):
        given["workdir"] = Path(given["workdir"])
    return given


def _file_values(config: FileConfig, provider: str, model: str | None) -> dict[str, Any]:
    """The settings the file gives ``provider`` and ``model`` (per-model tables first)."""
    top = config.top
    profile = PROFILES.get(provider)
    model_table = config.model_table(model or (profile.default_model if profile else None))
    provider_table = config.providers.get(provider, {})
    values: dict[str, Any] = {k: top[k] for k in _TOP_AS_IS if k in top}
    values["stale_timeout"] = _first("stale_timeout", model_table, provider_table, top)
    values["first_token_timeout"] = _first("first_token_timeout", model_table, provider_table, top)
    values["max_tokens"] = _file_max_tokens(model_table, provider_table, top)
    values["fallbacks"] = config.fallbacks
    values["model_overrides"] = {k: dict(v) for k, v in config.models.items()}
    values["provider_overrides"] = {k: dict(v) for k, v in config.providers.items()}
    values["file_stale_timeout"] = top.get("stale_timeout")
    values["file_first_token_timeout"] = top.get("first_token_timeout")
    if config.compaction:
        values["compaction"] = CompactionSettings(**config.compaction)
    return values


def _first(key: str, *tables: Mapping[str, Any]) -> Any:
    for table in tables:
        if table.get(key) is not None:
            return table[key]
    return None


def _file_max_tokens(model: Mapping[str, Any], provider: Mapping[str, Any], top: Mapping[str, Any]) -> int | None:
    """The per-model ``max_tokens``, else the provider's or the top level's, capped by the
    model's ``max_output_tokens`` (the model's own limit beats a general setting)."""
    if model.get("max_tokens") is not None:
        return int(model["max_tokens"])
    value = _first("max_tokens", provider, top)
    limit = model.get("max_output_tokens")
    if value is not None and limit is not None:
        return min(int(value), int(limit))
    return int(value) if value is not None else None
