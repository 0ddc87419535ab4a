"""The config file: precedence (flags > environment > file > defaults), per-model and
per-provider overrides, and an error that names the key and the file for every bad value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.assembly import provider_from
from agent.config import CompactionSettings, FallbackSpec, Settings
from agent.config_file import CONFIG_NAME, config_path, load_settings
from agent.config_reader import read_config
from agent.errors import ConfigError, MissingKeyError
from agent.providers.profiles import PROFILES

NO_ENV: dict[str, str] = {}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / CONFIG_NAME
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path | None, flags: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> Settings:
    return load_settings(path, flags or {}, env if env is not None else NO_ENV)


# --- missing file, defaults -------------------------------------------------------------------


def test_a_missing_file_means_defaults(tmp_path: Path) -> None:
    assert load(tmp_path / CONFIG_NAME) == Settings()
    assert load(None) == Settings()


def test_a_missing_file_named_by_config_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.toml"
    with pytest.raises(ConfigError, match=r"elsewhere\.toml does not exist"):
        load_settings(path, {}, NO_ENV, required=True)


def test_config_path_default_and_explicit(tmp_path: Path) -> None:
    assert config_path(tmp_path) == tmp_path / "config.toml"
    assert config_path(tmp_path, tmp_path / "x.toml") == tmp_path / "x.toml"


def test_an_empty_file_means_defaults(tmp_path: Path) -> None:
    assert load(write(tmp_path, "# nothing yet\n")) == Settings()


# --- precedence -----------------------------------------------------------------------------


FULL = """
provider = "openai"
model = "gpt-4o"
max_tokens = 1000
max_iterations = 7
max_retries = 5
stale_timeout = 11
approval = "refuse"
fallback_cooldown = 30
fallbacks = ["anthropic:claude-sonnet-4-6", { provider = "custom", model = "m", base_url = "http://127.0.0.1:9/v1", api_mode = "anthropic_messages" }]
"""  # noqa: E501


def test_file_values_apply_over_defaults(tmp_path: Path) -> None:
    settings = load(write(tmp_path, FULL))
    assert (settings.provider, settings.model, settings.max_tokens) == ("openai", "gpt-4o", 1000)
    assert (settings.max_iterations, settings.max_retries, settings.stale_timeout) == (7, 5, 11.0)
    assert (settings.approval, settings.fallback_cooldown) == ("refuse", 30.0)
    assert settings.fallbacks == (
        FallbackSpec("anthropic", "claude-sonnet-4-6"),
        FallbackSpec("custom", "m", "http://127.0.0.1:9/v1", "anthropic_messages"),
    )


def test_environment_beats_the_file(tmp_path: Path) -> None:
    env = {
        "STAYLINE_STALE_TIMEOUT": "22",
        "STAYLINE_MAX_RETRIES": "1",
        "STAYLINE_PROVIDER": "openai",
        "STAYLINE_MODEL": "gpt-4.1",
    }
    settings = load(write(tmp_path, FULL), env=env)
    assert (settings.stale_timeout, settings.max_retries) == (22.0, 1)
    assert (settings.provider, settings.model) == ("openai", "gpt-4.1")
    assert settings.max_iterations == 7  # not in the environment: the file's


def test_flags_beat_the_environment_and_the_file(tmp_path: Path) -> None:
    env = {"STAYLINE_STALE_TIMEOUT": "22", "STAYLINE_MAX_RETRIES": "1", "STAYLINE_MODEL": "gpt-4.1"}
    flags = {
        "stale_timeout": 33.0,
        "max_retries": 0,
        "model": "gpt-5",
        "max_tokens": 50,
        "max_iterations": None,  # not given
        "approval": "yolo",
        "fallbacks": ["openrouter:x/y"],
        "workdir": str(tmp_path),
    }
    settings = load(write(tmp_path, FULL), flags, env)
    assert (settings.stale_timeout, settings.max_retries, settings.model) == (33.0, 0, "gpt-5")
    assert (settings.max_tokens, settings.max_iterations, settings.approval) == (50, 7, "yolo")
    assert settings.fallbacks == (FallbackSpec("openrouter", "x/y"),)  # the flags replace the file's list
    assert settings.workdir == tmp_path


def test_a_bad_environment_value_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="STAYLINE_STALE_TIMEOUT"):
        load(write(tmp_path, FULL), env={"STAYLINE_STALE_TIMEOUT": "soon"})


def test_the_files_model_does_not_follow_another_provider(tmp_path: Path) -> None:
    path = write(tmp_path, 'provider = "anthropic"\nmodel = "claude-opus-4-6"\n')
    assert load(path).model == "claude-opus-4-6"
    assert load(path, {"provider": "openai"}).model is None  # the provider's default model
    assert load(path, env={"STAYLINE_PROVIDER": "openai"}).model is None
    assert load(path, {"provider": "anthropic"}).model == "claude-opus-4-6"
    assert load(write(tmp_path, 'model = "gpt-4o"\n'), {"provider": "openai"}).model == "gpt-4o"


# --- per-provider and per-model values ---------------------------------------------------------------

LAYERED = """
stale_timeout = 100
max_tokens = 4000

[providers.openrouter]
stale_timeout = 200
max_tokens = 3000

[models."anthropic/claude-opus-4.6"]
stale_timeout = 300
max_tokens = 2000

[models."gpt-4o"]
max_output_tokens = 1500
"""


@pytest.mark.parametrize(
    ("flags", "stale", "max_tokens"),
    [
        ({"provider": "openrouter", "model": "anthropic/claude-opus-4.6"}, 300.0, 2000),  # the model's
        ({"provider": "openrouter", "model": "claude-opus-4-6"}, 300.0, 2000),  # ids match normalised
        ({"provider": "openrouter", "model": "other/model"}, 200.0, 3000),  # the provider's
        ({"provider": "openai", "model": "gpt-4.1"}, 100.0, 4000),  # the top level's
        ({"provider": "openai", "model": "gpt-4o"}, 100.0, 1500),  # capped by the model's own limit
        ({"provider": "openrouter", "model": "claude-opus-4-6", "stale_timeout": 5.0, "max_tokens": 9}, 5.0, 9),
    ],
)
def test_model_beats_provider_beats_top_level(
    tmp_path: Path, flags: dict[str, Any], stale: float, max_tokens: int
) -> None:
    settings = load(write(tmp_path, LAYERED), flags)
    assert (settings.stale_timeout, settings.max_tokens) == (stale, max_tokens)


def test_the_environment_beats_a_per_model_value(tmp_path: Path) -> None:
    flags = {"provider": "openrouter", "model": "claude-opus-4-6"}
    assert load(write(tmp_path, LAYERED), flags, {"STAYLINE_STALE_TIMEOUT": "7"}).stale_timeout == 7.0


def test_per_provider_values_follow_the_default_provider(tmp_path: Path) -> None:
    # No provider named: the first with a key set, as the agent chooses it.
    settings = load(write(tmp_path, LAYERED), env={"OPENROUTER_API_KEY": "k"})
    assert settings.stale_timeout == 200.0
    # The default model of the provider picks its [models] table.
    text = f'[models."{PROFILES["anthropic"].default_model}"]\nstale_timeout = 42\n'
    assert load(write(tmp_path, text), {"provider": "anthropic"}).stale_timeout == 42.0


def test_model_tables_reach_the_model_catalog(tmp_path: Path) -> None:
    path = write(tmp_path, '[models."my-model"]\ncontext_window = 32000\nmax_output_tokens = 4000\n')
    settings = load(path, {"provider": "custom", "base_url": "http://127.0.0.1:9/v1", "model": "my-model"})
    provider = provider_from(settings)
    try:
        assert (provider.context_window, provider.max_output_tokens) == (32000, 4000)
    finally:
        provider.close()


def test_provider_tables_set_the_endpoint_and_the_key_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_ROUTER_KEY", raising=False)
    path = write(
        tmp_path,
        '[providers.openrouter]\nbase_url = "http://127.0.0.1:9/api/v1"\nkey_env = "MY_ROUTER_KEY"\n'
        "eager_tool_streaming = false\n",
    )
    settings = load(path, {"provider": "openrouter"})
    with pytest.raises(MissingKeyError, match="MY_ROUTER_KEY"):
        provider_from(settings)
    monkeypatch.setenv("MY_ROUTER_KEY", "secret")
    provider = provider_from(settings)
    try:
        assert provider.base_url == "http://127.0.0.1:9/api/v1"
        assert provider.profile.key_env == "MY_ROUTER_KEY" and provider.is_local
        assert provider._eager is False  # type: ignore[attr-defined]
    finally:
        provider.close()
    # A --base-url flag still beats the file's endpoint.
    provider = provider_from(settings.with_values(base_url="https://example.com/v1"))
    try:
        assert provider.base_url == "https://example.com/v1"
    finally:
        provider.close()


def test_a_custom_provider_table_gives_the_endpoint(tmp_path: Path) -> None:
    path = write(tmp_path, 'provider = "custom"\nmodel = "m"\n[providers.custom]\nbase_url = "http://127.0.0.1:9/v1"\n')
    provider = provider_from(load(path))
    try:
        assert (provider.name, provider.base_url, provider.model) == ("custom", "http://127.0.0.1:9/v1", "m")
    finally:
        provider.close()


# --- bad values: the message names the key and the file --------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "why"),
    [
        ("[providers.openrouter]\nstale_timeout = 'soon'\n", "providers.openrouter.stale_timeout", "positive number"),
        ("max_tokens = '100'\n", "max_tokens", "positive whole number"),
        ("max_retries = 1.5\n", "max_retries", "whole number"),
        ("max_iterations = true\n", "max_iterations", "positive whole number"),
        (
            "[models.'anthropic/claude-opus-4.6']\neager_input_streaming = 'yes'\n",
            'models."anthropic/claude-opus-4.6".eager_input_streaming',
            "true or false",
        ),
        ("[providers.openai]\neager_tool_streaming = 1\n", "providers.openai.eager_tool_streaming", "true or false"),
        ("[providers.openai]\nbase_url = 42\n", "providers.openai.base_url", "URL"),
        ("[providers.openai]\nbase_url = 'ftp://x'\n", "providers.openai.base_url", "URL"),
        ("[providers.openai]\nkey_env = 'my key'\n", "providers.openai.key_env", "environment variable"),
        ("model = ''\n", "model", "non-empty"),
        # negative numbers
        ("stale_timeout = -5\n", "stale_timeout", "positive number"),
        ("max_retries = -1\n", "max_retries", "0 or more"),
        ("fallback_cooldown = -1\n", "fallback_cooldown", "0 or more"),
        ("[models.m]\ncontext_window = -1\n", "models.m.context_window", "positive whole number"),
        ("stale_timeout = nan\n", "stale_timeout", "positive number"),
        # unknown keys
        ("stale_timout = 5\n", "stale_timout", "unknown key"),
        ("[providers.openai]\ntimeout = 5\n", "providers.openai.timeout", "unknown key"),
        ("[models.m]\nwindow = 5\n", "models.m.window", "unknown key"),
        ("fallbacks = [{ provider = 'openai', model = 'x', key = 'k' }]\n", "fallbacks[0].key", "unknown key"),
        # unknown provider names
        ("provider = 'openrouterr'\n", "provider", "openrouter"),
        ("[providers.groq]\nbase_url = 'https://x.example'\n", "providers.groq", "unknown provider"),
        ("fallbacks = ['groq:llama']\n", "fallbacks[0]", "provider"),
        ("fallbacks = [{ provider = 'groq', model = 'x' }]\n", "fallbacks[0].provider", "one of"),
        # other shapes
        ("approval = 'sometimes'\n", "approval", '"ask", "yolo", "refuse"'),
        ("fallbacks = 'openai:gpt-4o'\n", "fallbacks", "list"),
        ("fallbacks = ['gpt-4o']\n", "fallbacks[0]", "PROVIDER:MODEL"),
        ("fallbacks = ['custom:m']\n", "fallbacks[0]", "BASE_URL"),
        ("fallbacks = [{ provider = 'custom', model = 'm' }]\n", "fallbacks[0]", "base_url"),
        ("fallbacks = [{ model = 'm' }]\n", "fallbacks[0]", "provider"),
        ("fallbacks = [3]\n", "fallbacks[0]", "PROVIDER:MODEL"),
        ("providers = 3\n", "providers", "table"),
        ("[providers]\nopenai = 3\n", "providers.openai", "table"),
    ],
)
def test_a_bad_value_names_the_key_and_the_file(tmp_path: Path, text: str, key: str, why: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert key in message and why in message, message


def test_the_example_message(tmp_path: Path) -> None:
    path = write(tmp_path, "[providers.openrouter]\nstale_timeout = 'soon'\n")
    with pytest.raises(ConfigError) as caught:
        read_config(path)
    assert str(caught.value) == f"{path}: providers.openrouter.stale_timeout must be a positive number, got 'soon'"


@pytest.mark.parametrize("text", ["provider = \n", "[providers.openai\n", "a = 1\na = 2\n", "x = 'unterminated\n"])
def test_a_toml_syntax_error_names_the_file_and_the_line(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not valid TOML:"), message
    assert "line" in message or "end of document" in message, message


def test_a_file_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / CONFIG_NAME
    path.write_bytes(b"model = '\xff'\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(path)


def test_an_unknown_fallback_flag_provider_is_an_error_before_any_turn() -> None:
    with pytest.raises(ConfigError, match="--fallback 'groq:llama': unknown provider"):
        load(None, {"fallbacks": ["groq:llama"]})
    with pytest.raises(ConfigError, match="custom:MODEL@BASE_URL"):
        load(None, {"fallbacks": ["nonsense"]})


def test_an_unknown_flag_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        load(None, {"colour": "blue"})


# --- [compaction] -----------------------------------------------------------------------------


def test_the_compaction_table_configures_it(tmp_path: Path) -> None:
    text = "[compaction]\nthreshold = 0.7\nkeep_recent = 0.2\nkeep_tool_rounds = 3\ntrim_min_tokens = 500\n"
    settings = load(write(tmp_path, text))
    compaction = settings.compaction
    assert (compaction.threshold, compaction.keep_recent, compaction.keep_tool_rounds) == (0.7, 0.2, 3)
    assert compaction.trim_min_tokens == 500 and compaction.enabled
    assert load(write(tmp_path, "[compaction]\nenabled = false\n")).compaction.enabled is False
    assert load(None).compaction == CompactionSettings()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[compaction]\nthreshold = 80\n", "compaction.threshold must be a share of the context window"),
        ("[compaction]\nthreshold = 0.2\nkeep_recent = 0.3\n", "keep_recent (0.3) must be below threshold"),
        ("[compaction]\nkeep_tool_rounds = -1\n", "compaction.keep_tool_rounds must be a whole number"),
        ("[compaction]\nenabled = 1\n", "compaction.enabled must be true or false"),
        ("[compaction]\nsummarise = true\n", "unknown key compaction.summarise"),
        ("compaction = true\n", "compaction must be a table"),
    ],
)
def test_a_bad_compaction_value_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=str(path)) as caught:
        load(path)
    assert message in str(caught.value)
