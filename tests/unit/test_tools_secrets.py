"""Secrets never reach the model: scrubbed command environments and redacted results.

End to end (the CLI against the simulator, keys in the environment, ``env`` and
``printenv`` through the terminal tool) is in tests/e2e/test_security_e2e.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import FallbackSpec, Settings
from agent.config_file import load_settings
from agent.credentials import CredentialGuard, provider_credentials
from tools import Tool, ToolContext, ToolError, ToolRegistry, builtin_tools
from tools.secrets import DEFAULT_DENYLIST, REDACTED, Redactor, child_environment, is_denied_name
from tools.terminal import run_command

KEY = "sk-ant-primary-0123456789"
FALLBACK_KEY = "sk-or-fallback-9876543210"


@pytest.mark.parametrize(
    "name",
    [
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "my_service_api_key",
        "GITHUB_TOKEN",
        "NPM_TOKEN",
        "SLACK_BOT_TOKEN",
        "CLIENT_SECRET",
        "DJANGO_SECRET_KEY",
        "DB_PASSWORD",
        "FTP_PASSWD",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "SIGNING_PRIVATE_KEY",
        "API_KEY",
        "TOKEN",
    ],
)
def test_the_default_denylist_matches_credentials(name: str) -> None:
    assert is_denied_name(name)


@pytest.mark.parametrize("name", ["PATH", "HOME", "LANG", "TERM", "USER", "AWS_REGION", "TOKENIZERS_PARALLELISM"])
def test_the_default_denylist_leaves_ordinary_variables(name: str) -> None:
    assert not is_denied_name(name)


def test_the_documented_denylist_is_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for pattern in DEFAULT_DENYLIST:
        assert f"`{pattern}`" in readme, pattern


def test_child_environment_leaves_out_names_values_and_password_urls() -> None:
    environ = {
        "PATH": "/usr/bin",
        "MY_ROUTER_CRED": FALLBACK_KEY,  # a configured key_env: named by the agent
        "GITHUB_TOKEN": "ghp_abcdefghijklmnop",
        "COPY_OF_KEY": f"prefix {KEY}",  # holds a key the agent uses
        "DATABASE_URL": "postgres://me:hunter2hunter2@db/app",
        "PLAIN_URL": "https://example.com/x",
        "GH_TOKEN": "gho_passed_through_1234",
        "SHORT": "k",
    }
    child = child_environment(
        environ, secret_names={"MY_ROUTER_CRED"}, secret_values={KEY, "k"}, passthrough=["GH_TOKEN"]
    )
    assert child.env == {
        "PATH": "/usr/bin",
        "PLAIN_URL": "https://example.com/x",
        "GH_TOKEN": "gho_passed_through_1234",
        "SHORT": "k",  # a one-letter "key" is not looked for in values
    }
    assert child.removed == ("COPY_OF_KEY", "DATABASE_URL", "GITHUB_TOKEN", "MY_ROUTER_CRED")
    assert FALLBACK_KEY in child.removed_values


def test_redactor_replaces_every_secret_longest_first() -> None:
    redact = Redactor([KEY, KEY[:12], "short"])
    assert redact(f"a {KEY} b {KEY[:12]}x c short") == f"a {REDACTED} b {REDACTED}x c short"
    assert Redactor([])("unchanged") == "unchanged"
    assert not Redactor(["tiny"])


def test_the_registry_redacts_every_outcome_of_every_tool(tmp_path: Path) -> None:
    def leak(args: dict[str, object], ctx: ToolContext) -> str:
        if args.get("fail"):
            raise ToolError(f"failed with {KEY}")
        return f"the key is {KEY}"

    schema = {"type": "object", "properties": {"fail": {"type": "boolean"}}, "additionalProperties": False}
    registry = ToolRegistry([Tool("leak", "leaks", schema, leak)])
    ctx = ToolContext(tmp_path, redact=Redactor([KEY]))
    ok = registry.execute("leak", {}, ctx)
    failed = registry.execute("leak", {"fail": True}, ctx)
    for outcome in (ok, failed):
        assert KEY not in outcome.content and KEY not in outcome.summary
        assert REDACTED in outcome.content
    assert failed.is_error


def test_the_terminal_without_an_environment_still_drops_the_denylist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOME_SERVICE_API_KEY", "value-that-must-not-show")
    monkeypatch.setenv("HARMLESS_SETTING", "visible")
    result = run_command("env", tmp_path, 30, 100_000)
    assert "HARMLESS_SETTING=visible" in result.output
    assert "SOME_SERVICE_API_KEY" not in result.output and "value-that-must-not-show" not in result.output


def test_the_terminal_runs_with_the_contexts_environment(tmp_path: Path) -> None:
    registry = ToolRegistry(builtin_tools())
    ctx = ToolContext(tmp_path, environment={"PATH": "/usr/bin:/bin", "ONLY_THIS": "yes"})
    outcome = registry.execute("terminal", {"command": "env"}, ctx)
    lines = set(outcome.content.splitlines()[1:])
    assert "ONLY_THIS=yes" in lines
    assert not any(line.startswith("HOME=") for line in lines)


def test_provider_credentials_name_every_configured_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("MY_ROUTER_CRED", FALLBACK_KEY)
    settings = Settings(
        provider="anthropic",
        api_key="sk-explicit-flag-value",
        fallbacks=(FallbackSpec("openrouter", "m"), FallbackSpec("custom", "m", "http://x/v1", api_key="sk-custom-1")),
        provider_overrides={"openrouter": {"key_env": "MY_ROUTER_CRED"}},
    )
    names, values = provider_credentials(settings)
    assert {"ANTHROPIC_API_KEY", "MY_ROUTER_CRED", "STAYLINE_API_KEY", "OPENAI_API_KEY"} <= names
    assert {KEY, FALLBACK_KEY, "sk-explicit-flag-value", "sk-custom-1"} <= values


def test_a_key_used_earlier_stays_redacted_after_a_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    guard = CredentialGuard()
    guard.for_turn(Settings(provider="anthropic", api_key="sk-first-key-123456"))
    later = guard.for_turn(Settings(provider="openai", api_key="sk-second-key-654321"))
    assert later.redact("sk-first-key-123456 sk-second-key-654321") == f"{REDACTED} {REDACTED}"
    assert "sk-first-key-123456" not in str(later.environment)


def test_env_passthrough_is_a_config_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('env_passthrough = ["GH_TOKEN", "NPM_TOKEN"]\nsandbox = true\nsandbox_network = true\n')
    settings = load_settings(path, environ={})
    assert settings.env_passthrough == ("GH_TOKEN", "NPM_TOKEN")
    assert settings.sandbox and settings.sandbox_network
    path.write_text('env_passthrough = "GH_TOKEN"\n')
    with pytest.raises(Exception, match="env_passthrough must be a list of environment variable names"):
        load_settings(path, environ={})
