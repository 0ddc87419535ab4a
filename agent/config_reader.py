"""Reading and checking the config file: every key, the kind of value it takes, and
``read_config``, which turns one file into a checked ``FileConfig``.

    provider = "openrouter"
    model = "anthropic/claude-sonnet-4.6"
    approval = "ask"                  # dangerous commands: ask, yolo or refuse
    env_passthrough = ["GH_TOKEN"]    # credentials the terminal tool may see on purpose
    sandbox = true                    # terminal commands under bubblewrap (--sandbox)
    sandbox_network = false           # ...with the network off (the default)
    fallbacks = ["openai:gpt-4.1", "custom:qwen3-coder@http://127.0.0.1:11434/v1"]
    cache_ttl = "1h"                  # Anthropic prompt-cache writes live 1 h (default "5m")
    stream = false                    # send requests without streaming (--no-stream)
    max_continuations = 3             # continuations of a reply cut by its length (0: none)

    [providers.openrouter]
    key_env = "MY_OPENROUTER_KEY"     # the variable that holds the key (never the key itself)
    stale_timeout = 300

    [providers.custom]
    tool_choice = false               # for a server that refuses the tool_choice field

    [models."qwen3-coder"]
    context_window = 262144
    stale_timeout = 900
    input_price = 0.30                # dollars per million tokens; also output_price, cache_*_price

    [compaction]                      # keeping long conversations inside the window
    threshold = 0.8                   # compact when a request would pass 80 % of the window
    keep_recent = 0.25                # recent messages kept whole, share of the window
    keep_tool_rounds = 5              # the last 5 tool rounds keep their output whole

Every value is checked when the file is read: a bad one raises ``ConfigError`` naming the
file and the key. A missing file means defaults. How the values become ``Settings`` (and
beat or yield to flags and the environment) is ``agent/config_file.py``.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config import CompactionSettings, FallbackSpec
from agent.errors import ConfigError
from agent.models import PRICE_KEYS, normalise_model_id
from agent.providers.profiles import PROFILES, WIRES


class _Bad(ValueError):
    """A value of the wrong kind; ``expected`` completes "KEY must be ..."."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


Check = Callable[[Any], Any]


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Bad("a positive whole number")
    return value


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Bad("a whole number, 0 or more")
    return value


def _real(value: Any, fits: Callable[[float], bool], what: str) -> float:
    """A number (not a bool) for which ``fits`` holds, else a clear complaint."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not fits(value):
        raise _Bad(what)
    return float(value)


def _positive_seconds(value: Any) -> float:
    return _real(value, lambda v: 0 < v < math.inf, "a positive number")


def _seconds_or_zero(value: Any) -> float:
    return _real(value, lambda v: 0 <= v < math.inf, "a number of seconds, 0 or more")


def _share(value: Any) -> float:
    return _real(value, lambda v: 0 < v < 1, "a share of the context window between 0 and 1, such as 0.8")


def _dollars(value: Any) -> float:
    return _real(value, lambda v: 0 <= v < math.inf, "a number of dollars per million tokens, 0 or more")


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad("true or false")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad("a non-empty string")
    return value.strip()


def _one_of(*choices: str) -> Check:
    def check(value: Any) -> str:
        if value not in choices:
            raise _Bad("one of " + ", ".join(f'"{c}"' for c in choices))
        return str(value)

    return check


_provider_name = _one_of(*PROFILES)
_api_mode = _one_of(*WIRES)


def _url(value: Any) -> str:
    text = _text(value) if isinstance(value, str) else None
    if text is None or not re.fullmatch(r"https?://[^/\s]+\S*", text):
        raise _Bad("an http(s) URL such as http://127.0.0.1:8080/v1")
    return text


def _env_name(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise _Bad("the name of an environment variable, such as MY_API_KEY")
    return value


def _env_names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _Bad('a list of environment variable names, such as ["GH_TOKEN"]')
    try:
        return tuple(_env_name(item) for item in value)
    except _Bad:
        raise _Bad('a list of environment variable names, such as ["GH_TOKEN"]') from None


_TOP: dict[str, Check] = {
    "provider": _provider_name,
    "model": _text,
    "max_tokens": _positive_int,
    "max_iterations": _positive_int,
    "max_retries": _count,
    "stale_timeout": _positive_seconds,
    "first_token_timeout": _positive_seconds,
    "retry_budget": _seconds_or_zero,
    "repeat_limit": _positive_int,
    "escalate_early": _boolean,
    "approval": _one_of("ask", "yolo", "refuse"),
    "fallback_cooldown": _seconds_or_zero,
    "env_passthrough": _env_names,
    "sandbox": _boolean,
    "sandbox_network": _boolean,
    "prompt_caching": _boolean,
    "cache_ttl": _one_of("5m", "1h"),
    "stream": _boolean,
    "max_continuations": _count,
}
_TABLES = ("fallbacks", "providers", "models", "compaction")  # checked by their own readers
_PROVIDER: dict[str, Check] = {
    "base_url": _url,
    "key_env": _env_name,
    "stale_timeout": _positive_seconds,
    "first_token_timeout": _positive_seconds,
    "gateway": _boolean,
    "max_tokens": _positive_int,
    "eager_tool_streaming": _boolean,
    "prompt_caching": _boolean,
    "prompt_cache_key": _boolean,
    "tool_choice": _boolean,
}
_MODEL: dict[str, Check] = {
    "context_window": _positive_int,
    "max_output_tokens": _positive_int,
    "max_tokens": _positive_int,
    "eager_input_streaming": _boolean,
    "stale_timeout": _positive_seconds,
    "first_token_timeout": _positive_seconds,
    "reasoning": _boolean,
    **dict.fromkeys(PRICE_KEYS, _dollars),  # input_price, output_price, cache_read_price...
}
_COMPACTION: dict[str, Check] = {
    "enabled": _boolean,
    "trim": _boolean,
    "threshold": _share,
    "keep_recent": _share,
    "keep_tool_rounds": _count,
    "trim_min_tokens": _positive_int,
    "margin_tokens": _positive_int,
    "summary_max_tokens": _positive_int,
    "max_summary_attempts": _positive_int,
}
_FALLBACK: dict[str, Check] = {"provider": _provider_name, "model": _text, "base_url": _url, "api_mode": _api_mode}


@dataclass(frozen=True, slots=True)
class FileConfig:
    """The checked contents of one config file (empty when there is none)."""

    path: Path | None = None
    top: Mapping[str, Any] = field(default_factory=dict)
    fallbacks: tuple[FallbackSpec, ...] | None = None  # None: the file names none
    providers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    compaction: Mapping[str, Any] = field(default_factory=dict)

    def model_table(self, model: str | None) -> Mapping[str, Any]:
        """The ``[models."ID"]`` table of ``model`` (ids match as the model catalog does)."""
        if not model:
            return {}
        wanted = normalise_model_id(model)
        for key, table in self.models.items():
            if normalise_model_id(key) == wanted:
                return table
        return {}


def read_config(path: Path, *, required: bool = False) -> FileConfig:
    """Read and check ``path``. Missing: defaults, unless ``required`` (``--config``)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path} does not exist") from None
        return FileConfig()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid TOML: the file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return _Reader(path).read(data)


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {message}")

    def read(self, data: dict[str, Any]) -> FileConfig:
        top = self.table(data, "", _TOP, extra=_TABLES)
        providers = self.tables(data.get("providers"), "providers", _PROVIDER, names=tuple(PROFILES))
        models = self.tables(data.get("models"), "models", _MODEL)
        fallbacks = self.fallbacks(data["fallbacks"]) if "fallbacks" in data else None
        compaction = self.compaction(data.get("compaction"))
        return FileConfig(self.path, top, fallbacks, providers, models, compaction)

    def compaction(self, data: Any) -> dict[str, Any]:
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise self.error(f"compaction must be a table ([compaction]), got {_shown(data)}")
        table = self.table(data, "compaction", _COMPACTION)
        try:
            CompactionSettings(**table).validated()
        except ConfigError as exc:
            raise self.error(str(exc)) from None
        return table

    def table(
        self, data: Mapping[str, Any], where: str, schema: Mapping[str, Check], extra: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        checked: dict[str, Any] = {}
        for key, value in data.items():
            dotted = _dotted(where, key)
            if key in extra:
                continue
            check = schema.get(key)
            if check is None:
                known = ", ".join([*schema, *extra])
                raise self.error(f"unknown key {dotted}; the keys allowed here are: {known}")
            try:
                checked[key] = check(value)
            except _Bad as bad:
                raise self.error(f"{dotted} must be {bad.expected}, got {_shown(value)}") from None
        return checked

    def tables(
        self, data: Any, where: str, schema: Mapping[str, Check], names: tuple[str, ...] | None = None
    ) -> dict[str, dict[str, Any]]:
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise self.error(f"{where} must be a table of tables ([{where}.NAME]), got {_shown(data)}")
        result: dict[str, dict[str, Any]] = {}
        for name, table in data.items():
            dotted = _dotted(where, name)
            if names is not None and name not in names:
                raise self.error(f"{dotted}: unknown provider {name!r}; choose one of: {', '.join(names)}")
            if not isinstance(table, dict):
                raise self.error(f"{dotted} must be a table ([{dotted}]), got {_shown(table)}")
            result[name] = self.table(table, dotted, schema)
        return result

    def fallbacks(self, data: Any) -> tuple[FallbackSpec, ...]:
        if not isinstance(data, list):
            raise self.error(f'fallbacks must be a list such as ["openai:gpt-4.1"], got {_shown(data)}')
        specs: list[FallbackSpec] = []
        for index, entry in enumerate(data):
            where = f"fallbacks[{index}]"
            if isinstance(entry, str):
                try:
                    spec = FallbackSpec.parse(entry)
                except ConfigError as exc:
                    raise self.error(f"{where}: {exc}") from None
                try:
                    _provider_name(spec.provider)
                except _Bad as bad:
                    raise self.error(f"{where}: provider must be {bad.expected}, got {spec.provider!r}") from None
            elif isinstance(entry, dict):
                table = self.table(entry, where, _FALLBACK)
                for needed in ("provider", "model"):
                    if needed not in table:
                        raise self.error(f"{where} needs a {needed}")
                spec = FallbackSpec(**table)
            else:
                raise self.error(f'{where} must be "PROVIDER:MODEL" or a table, got {_shown(entry)}')
            if spec.provider == "custom" and not spec.base_url:
                raise self.error(f"{where}: a custom fallback needs a base_url")
            specs.append(spec)
        return tuple(specs)


def _dotted(where: str, key: str) -> str:
    part = key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else '"' + key.replace('"', '\\"') + '"'
    return f"{where}.{part}" if where else part


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
