"""The credentials the agent holds, kept away from its tools.

The agent knows which provider keys it uses (the primary's, each fallback's, an
``api_key`` given directly); ``tools.secrets`` knows how to keep them out of a command's
environment and out of tool results. ``ToolSecrets`` brings the two together once per
turn: the environment the terminal tool runs with, and the redactor the tool registry
applies to every result before it is stored, traced, shown or sent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from agent.config import Settings, effective_provider
from agent.providers.profiles import PROFILES
from tools.secrets import Redactor, child_environment


@dataclass(frozen=True)
class ToolSecrets:
    """What the tools of one turn get: a clean environment and the redactor."""

    environment: dict[str, str]
    redact: Redactor


def provider_credentials(settings: Settings, environ: Mapping[str, str] | None = None) -> tuple[set[str], set[str]]:
    """The key variable names of every provider profile and configured provider (with the
    config file's ``key_env``), and the key values the settings use or point at."""
    env = os.environ if environ is None else environ
    names = {profile.key_env for profile in PROFILES.values() if profile.key_env}
    values: set[str] = set()
    primary = effective_provider(settings.provider, settings.base_url, env)
    entries = [(primary, settings.api_key)] + [(spec.provider, spec.api_key) for spec in settings.fallbacks]
    for name, explicit in entries:
        profile = PROFILES.get(name)
        key_env = settings.provider_overrides.get(name, {}).get("key_env") or (profile.key_env if profile else None)
        if key_env:
            names.add(str(key_env))
            if env.get(key_env):
                values.add(env[key_env])
        if explicit:
            values.add(explicit)
    return names, values


class CredentialGuard:
    """Remembers every key value the agent has held (a key switched away from by
    ``/model`` is still redacted) and builds each turn's ``ToolSecrets``."""

    def __init__(self) -> None:
        self._held: set[str] = set()

    def for_turn(self, settings: Settings, environ: Mapping[str, str] | None = None) -> ToolSecrets:
        """The clean environment and the redactor for a turn run with ``settings``."""
        env = os.environ if environ is None else environ
        names, values = provider_credentials(settings, env)
        self._held |= values
        child = child_environment(
            env, secret_names=names, secret_values=self._held, passthrough=settings.env_passthrough
        )
        return ToolSecrets(child.env, Redactor([*self._held, *child.removed_values]))
