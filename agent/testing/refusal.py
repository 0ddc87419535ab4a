"""A refusal of the simulator's oracle (``rules.py``): what the real server answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.testing import anthropic_wire, local_servers, openai_wire
from agent.testing.render import dumps
from agent.testing.script import Flavour, HttpError, Wire


@dataclass(frozen=True, slots=True)
class Refusal:
    """An error the simulator answers with (a 400 unless ``status`` says otherwise);
    ``code``/``param`` fill OpenAI's error fields, ``error_type`` the type, ``extra``
    more fields of the error object. ``upstream`` marks an Anthropic rule reached
    through OpenRouter, which wraps the upstream's own error JSON in its "Provider
    returned error". ``streamed_empty``: a streamed request gets a 200 whose body ends
    with nothing in it instead (the error is only in the server's log)."""

    message: str
    code: str | None = None
    param: str | None = None
    upstream: bool = False
    status: int = 400
    error_type: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    streamed_empty: bool = False


def refusal_error(wire: Wire, flavour: Flavour, refusal: Refusal) -> HttpError:
    """A refusal in the flavour's error shape."""
    status = refusal.status
    if flavour == "openrouter" and refusal.upstream:
        upstream = anthropic_wire.error_body(status, refusal.message, None, anthropic_wire.new_request_id())
        body = openai_wire.provider_error_body(status, dumps(upstream), "Anthropic")
        return HttpError(status, refusal.message, body=body)
    if wire == "openai" and flavour == "openai":
        body = openai_wire.error_body(
            status, refusal.message, refusal.error_type, flavour, code=refusal.code, param=refusal.param
        )
        return HttpError(status, refusal.message, body=body)
    if local_servers.is_local(flavour):
        body = local_servers.error_body(
            flavour,
            status,
            refusal.message,
            refusal.error_type,
            code=refusal.code,
            param=refusal.param,
            extra=refusal.extra,
        )
        return HttpError(status, refusal.message, body=body)
    return HttpError(status, refusal.message, refusal.error_type)
