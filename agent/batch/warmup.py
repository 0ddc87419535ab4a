"""Warm-up for the local engine's fork server, imported there once (and nowhere else).

The fork server can only import modules, so importing this one builds and closes one
provider per wire, sending nothing. The SDKs and their HTTP stack import much of their
code on first use; after this, every worker forked from the server starts with it loaded
instead of importing it again for each task.
"""

from __future__ import annotations

from agent.assembly import provider_from
from agent.config import Settings

_NOWHERE = "http://127.0.0.1:9"  # never contacted: building a client opens no connection


def warm_up() -> None:
    """Build and close a provider of each wire."""
    for provider in ("anthropic", "openai"):
        settings = Settings(provider=provider, model="warm-up", base_url=_NOWHERE, api_key="warm-up")
        provider_from(settings).close()


warm_up()
