"""Settings of an agent and where they come from.

Precedence: flags (or ``AIAgent`` arguments) > environment > config file > defaults.
The CLI and ``AIAgent`` both end up with one ``Settings`` value.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from agent.errors import ConfigError

DEFAULT_MAX_ITERATIONS = 90
DEFAULT_MAX_RETRIES = 2  # retries after the first attempt: three attempts per model call
DEFAULT_MAX_CONTINUATIONS = 3
DEFAULT_RETRY_BUDGET = 300.0  # five minutes of retrying a busy provider, per model call
DEFAULT_REPEAT_LIMIT = 3
# Provider chosen when none is named: the first whose key is set.
_KEY_ORDER = (
    ("anthropic", "ANTHROPIC_API_KEY"),
    ("openrouter", "OPENROUTER_API_KEY"),
    ("openai", "OPENAI_API_KEY"),
)


@dataclass(frozen=True, slots=True)
class FallbackSpec:
    """One fallback entry: ``PROVIDER:MODEL``, or ``custom:MODEL@BASE_URL``."""

    provider: str
    model: str
    base_url: str | None = None
    api_mode: str | None = None
    api_key: str | None = None

    @classmethod
    def parse(cls, text: str) -> FallbackSpec:
        provider, sep, rest = text.strip().partition(":")
        if not sep or not provider or not rest:
            raise ConfigError(
                f"fallback {text!r} is not PROVIDER:MODEL (or custom:MODEL@BASE_URL), "
                "e.g. openrouter:anthropic/claude-sonnet-4.6"
            )
        base_url = None
        at = max(rest.rfind("@http://"), rest.rfind("@https://"))
        if at >= 0:
            rest, base_url = rest[:at], rest[at + 1 :]
        if provider == "custom" and base_url is None:
            raise ConfigError(f"fallback {text!r}: a custom entry needs @BASE_URL after the model")
        return cls(provider, rest, base_url)

    @classmethod
    def coerce(cls, value: FallbackSpec | str | Mapping[str, Any]) -> FallbackSpec:
        """From a flag string, a config-file table or a spec."""
        if isinstance(value, FallbackSpec):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        try:
            return cls(**dict(value))
        except TypeError as exc:
            raise ConfigError(f"fallback entry {dict(value)!r} is not valid: {exc}") from None

    @property
    def label(self) -> str:
        return f"{self.model} via {self.provider}"


@dataclass(frozen=True, slots=True)
class CompactionSettings:
    """``AIAgent(compaction=...)`` and the config file's ``[compaction]`` table.

    ``enabled=False`` turns trimming and compaction off (a context-length error then
    goes to the fallback chain, or ends the turn). Shares (``threshold``,
    ``keep_recent``) are fractions of the model's context window.
    """

    enabled: bool = True
    trim: bool = True  # stub old, large tool results before asking for a summary
    threshold: float = 0.8  # compact when a request would pass this share of the window
    keep_recent: float = 0.25  # recent messages kept whole after a compaction, share of the window
    keep_tool_rounds: int = 5  # the most recent tool rounds keep their results whole
    trim_min_tokens: int = 200  # only tool results larger than this are stubbed
    margin_tokens: int = 1_024  # kept free below the window for the estimate's error
    summary_max_tokens: int = 4_096  # the summary's output limit (less on a small window)
    max_summary_attempts: int = 3  # a summary request that is too large drops its oldest part, this often

    @classmethod
    def coerce(cls, value: CompactionSettings | bool | dict[str, Any] | None) -> CompactionSettings | None:
        """From ``AIAgent(compaction=...)``: settings, True (defaults), False (off), a
        mapping of field values, or None (not given)."""
        if value is None or isinstance(value, CompactionSettings):
            return value
        if isinstance(value, bool):
            return cls(enabled=value)
        if isinstance(value, dict):
            known = {f.name for f in fields(cls)}
            unknown = set(value) - known
            if unknown:
                raise ConfigError(f"unknown compaction setting(s): {', '.join(sorted(unknown))}")
            return cls(**value).validated()
        raise ConfigError(f"compaction must be CompactionSettings, True/False or a dict, not {value!r}")

    def validated(self) -> CompactionSettings:
        """Raise ``ConfigError`` for values that cannot work."""
        for name in ("threshold", "keep_recent"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ConfigError(f"compaction {name} must be a share of the window between 0 and 1, not {value}")
        if self.keep_recent >= self.threshold:
            raise ConfigError(
                f"compaction keep_recent ({self.keep_recent}) must be below threshold ({self.threshold}), "
                "or a compaction could not make room"
            )
        for name in ("keep_tool_rounds",):
            if getattr(self, name) < 0:
                raise ConfigError(f"compaction {name} must be 0 or more, not {getattr(self, name)}")
        for name in ("trim_min_tokens", "margin_tokens", "summary_max_tokens", "max_summary_attempts"):
            if getattr(self, name) < 1:
                raise ConfigError(f"compaction {name} must be at least 1, not {getattr(self, name)}")
        return self


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of an agent, with its default; see ``with_values`` and the config file."""

    provider: str | None = None
    model: str | None = None
    base_url: str | None = None
    api_mode: str | None = None
    api_key: str | None = None
    workdir: Path | None = None
    system_prompt: str | None = None
    max_tokens: int | None = None
    max_iterations: int = DEFAULT_MAX_ITERATIONS
    max_retries: int = DEFAULT_MAX_RETRIES
    max_continuations: int = DEFAULT_MAX_CONTINUATIONS
    stale_timeout: float | None = None
    # True when stale_timeout came from a flag, the environment or AIAgent: it then holds
    # for fallbacks too; otherwise each provider gets its own config-file value.
    stale_timeout_explicit: bool = False
    file_stale_timeout: float | None = None  # the config file's top-level stale_timeout
    # The limit before the first token alone (stale_timeout sets both); same sources.
    first_token_timeout: float | None = None
    first_token_timeout_explicit: bool = False
    file_first_token_timeout: float | None = None
    retry_budget: float = DEFAULT_RETRY_BUDGET  # seconds of waiting out a busy provider per call; 0: off
    repeat_limit: int = DEFAULT_REPEAT_LIMIT  # the same tool call this often in a turn, then a note
    escalate_early: bool = True  # with a fallback: the 2nd stall or overload of a call moves on
    request_timeout: float = 600.0
    approval: str = "ask"  # dangerous commands: "ask" (the CLI asks), "yolo" (allow), "refuse"
    stall_threshold: int = 2  # cuts in a row of the same tool call before guidance
    max_guidance_rounds: int = 2  # per turn; then the turn ends with an actionable error
    chunk_chars: int = 8_000  # the piece size the guidance asks for
    fallbacks: tuple[FallbackSpec, ...] = ()
    fallback_cooldown: float = 60.0
    # The terminal tool: variables passed through on purpose although the secret
    # denylist matches them; bubblewrap around every command; network inside it.
    env_passthrough: tuple[str, ...] = ()
    sandbox: bool = False
    sandbox_network: bool = False
    stream: bool = True  # False for servers that cannot stream; the stale limit then bounds the whole call
    eager_tool_streaming: bool | None = None
    prompt_caching: bool = True  # cache_control breakpoints and cache keys where the provider takes them
    cache_ttl: str = "5m"  # how long Anthropic keeps what is written: "5m" or "1h" (writes cost 2x input)
    model_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Per provider name (``[providers.NAME]`` of the config file): base_url, key_env,
    # eager_tool_streaming; applied whenever that provider is built, fallbacks included.
    provider_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    compaction: CompactionSettings = field(default_factory=CompactionSettings)  # [compaction] of the file

    def with_values(self, **values: Any) -> Settings:
        """A copy with every non-None value applied (None means: not given)."""
        known = {f.name for f in fields(self)}
        unknown = set(values) - known
        if unknown:
            raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    def validated(self) -> Settings:
        for name in ("max_iterations",):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.max_continuations < 0:
            raise ConfigError(f"max_continuations must be 0 or more, not {self.max_continuations}")
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be 0 or more, not {self.max_retries}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ConfigError(f"max_tokens must be a positive number of tokens, not {self.max_tokens}")
        if self.approval not in ("ask", "yolo", "refuse"):
            raise ConfigError(f"approval must be ask, yolo or refuse, not {self.approval!r}")
        if self.cache_ttl not in ("5m", "1h"):
            raise ConfigError(f'cache_ttl must be "5m" or "1h", not {self.cache_ttl!r}')
        for name in ("stale_timeout", "first_token_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be a positive number of seconds, not {value}")
        if self.retry_budget < 0:
            raise ConfigError(f"retry_budget must be 0 (off) or a number of seconds, not {self.retry_budget}")
        if self.repeat_limit < 1:
            raise ConfigError(f"repeat_limit must be at least 1, not {self.repeat_limit}")
        self.compaction.validated()
        return self


def default_provider(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    for name, variable in _KEY_ORDER:
        if env.get(variable):
            return name
    return "anthropic"


def effective_provider(provider: str | None, base_url: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The provider in use: the one named, else ``custom`` for a bare base URL, else the
    first whose key is set."""
    return provider or ("custom" if base_url else default_provider(environ))


def _number(environ: Mapping[str, str], name: str, kind: type) -> Any:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} is not a valid {kind.__name__}") from None


def settings_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings the environment gives (only those that are set)."""
    env = os.environ if environ is None else environ
    stale = _number(env, "STAYLINE_STALE_TIMEOUT", float)
    first = _number(env, "STAYLINE_FIRST_TOKEN_TIMEOUT", float)
    values: dict[str, Any] = {
        "stale_timeout": stale,
        "stale_timeout_explicit": True if stale is not None else None,
        "first_token_timeout": first,
        "first_token_timeout_explicit": True if first is not None else None,
        "retry_budget": _number(env, "STAYLINE_RETRY_BUDGET", float),
        "max_retries": _number(env, "STAYLINE_MAX_RETRIES", int),
        "provider": env.get("STAYLINE_PROVIDER") or None,
        "model": env.get("STAYLINE_MODEL") or None,
    }
    return {k: v for k, v in values.items() if v is not None}


def settings_from_arguments(
    base: Settings | None,
    *,
    provider: str | None,
    model: str | None,
    base_url: str | None,
    api_key: str | None,
    workdir: str | Path | None,
    system_prompt: str | None,
    fallbacks: Iterable[FallbackSpec | str | Mapping[str, Any]] | None,
    stale_timeout: float | None,
    max_retries: int | None,
    max_iterations: int | None,
    api_mode: str | None,
    max_tokens: int | None,
    first_token_timeout: float | None,
    retry_budget: float | None,
    compaction: CompactionSettings | bool | dict[str, Any] | None,
) -> Settings:
    """``AIAgent``'s arguments (None: not given) applied over ``base``, or without it over
    the environment and the defaults; checked."""
    base = base or Settings().with_values(**settings_from_env())
    return base.with_values(
        provider=provider,
        model=model,
        base_url=base_url,
        api_key=api_key,
        workdir=Path(workdir) if workdir is not None else None,
        system_prompt=system_prompt,
        stale_timeout=stale_timeout,
        stale_timeout_explicit=True if stale_timeout is not None else None,
        first_token_timeout=first_token_timeout,
        first_token_timeout_explicit=True if first_token_timeout is not None else None,
        retry_budget=retry_budget,
        max_retries=max_retries,
        max_iterations=max_iterations,
        api_mode=api_mode,
        max_tokens=max_tokens,
        fallbacks=tuple(FallbackSpec.coerce(f) for f in fallbacks) if fallbacks is not None else None,
        compaction=CompactionSettings.coerce(compaction),
    ).validated()
