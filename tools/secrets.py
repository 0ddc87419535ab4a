"""Credentials never reach the model: the terminal's environment and tool results.

Two layers, because either alone leaks. ``child_environment`` builds the environment a
command runs with: it leaves out the variables the agent names (the key variables of
every configured provider), every variable the default denylist matches by name, and
any variable whose value is a URL with a password in it; variables the user names as
``passthrough`` are kept on purpose. ``Redactor`` then replaces every secret value the
agent holds in whatever a tool returns, since a command can still find a key elsewhere
(``/proc/$PPID/environ``, a dotfile that holds the same key).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

__all__ = [
    "DEFAULT_DENYLIST",
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "ChildEnvironment",
    "Redactor",
    "child_environment",
    "is_denied_name",
]

# Shell-style patterns, matched against the upper-cased variable name. Documented in
# the README ("Secrets and the terminal"); keep the two in step.
DEFAULT_DENYLIST: tuple[str, ...] = (
    "*_API_KEY",
    "*_APIKEY",
    "API_KEY",
    "*_TOKEN",
    "TOKEN",
    "*_SECRET",
    "*_SECRET_KEY",
    "SECRET",
    "*_PASSWORD",
    "*_PASSWD",
    "PASSWORD",
    "*_PRIVATE_KEY",
    "*_ACCESS_KEY",
    "*_CREDENTIALS",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)
# Shorter values are too likely to be ordinary words to be replaced everywhere.
MIN_SECRET_LENGTH = 8
REDACTED = "[redacted]"
# postgres://user:password@host/db, http://user:password@proxy:3128 ...
_URL_WITH_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]+:[^/@\s]+@")


@dataclass(frozen=True)
class ChildEnvironment:
    """The environment for a command, and what was left out of it."""

    env: dict[str, str]
    removed: tuple[str, ...]  # the names left out, sorted
    removed_values: tuple[str, ...]  # their values, for the redactor


def is_denied_name(name: str) -> bool:
    """True when the default denylist matches the variable ``name``."""
    upper = name.upper()
    return any(fnmatchcase(upper, pattern) for pattern in DEFAULT_DENYLIST)


def child_environment(
    environ: Mapping[str, str] | None = None,
    *,
    secret_names: Iterable[str] = (),
    secret_values: Iterable[str] = (),
    passthrough: Iterable[str] = (),
) -> ChildEnvironment:
    """``environ`` (default: this process's) without credentials.

    Left out: the ``secret_names``, names the default denylist matches, values that
    contain one of the ``secret_values`` or a URL with a password. Names in
    ``passthrough`` are kept whatever they match.
    """
    source = dict(os.environ if environ is None else environ)
    names = set(secret_names)
    values = [value for value in secret_values if len(value) >= MIN_SECRET_LENGTH]
    keep = set(passthrough)
    env: dict[str, str] = {}
    removed: list[str] = []
    for name, value in source.items():
        secret = (
            name in names
            or is_denied_name(name)
            or _URL_WITH_PASSWORD.search(value) is not None
            or any(held in value for held in values)
        )
        if secret and name not in keep:
            removed.append(name)
        else:
            env[name] = value
    removed.sort()
    return ChildEnvironment(env, tuple(removed), tuple(source[name] for name in removed))


class Redactor:
    """Replaces each secret value (``MIN_SECRET_LENGTH`` characters or more) with
    ``[redacted]``; the longest first, so a key that contains another goes whole."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, values))) if values else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)
