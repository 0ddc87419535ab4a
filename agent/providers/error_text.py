"""Reading what an error says: its type and message in any wire's or gateway's shape,
and how long the server asks us to wait.

Gateways wrap their upstream's error: OpenRouter carries the upstream JSON as a string
in ``metadata.raw``; LiteLLM embeds it in its own message ("AnthropicException -
{...}"). The real type inside decides whether retrying can help.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Mapping

RETRY_AFTER_CAP = 3600.0  # a sanity bound; the retry budget decides how long is worth waiting
# Server advice in an error's words: "Please try again in 20s", "Try again in 5 seconds",
# "retry after 1.5 seconds", "try again in 350ms".
_ADVICE_IN_TEXT = re.compile(
    r"(?:try again|retry)(?: (?:in|after))? (\d+(?:\.\d+)?) ?(ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?)\b",
    re.IGNORECASE,
)


def retry_advice(headers: Mapping[str, str] | None, message: str | None) -> float | None:
    """How long the server asks us to wait: its headers, else its words."""
    from_headers = retry_after_seconds(headers)
    return from_headers if from_headers is not None else retry_after_in_text(message)


def retry_after_in_text(message: str | None) -> float | None:
    """A wait the error text asks for ("Please try again in 20s"), capped."""
    match = _ADVICE_IN_TEXT.search(message or "")
    if match is None:
        return None
    unit = match.group(2).lower()
    scale = 0.001 if unit.startswith(("ms", "milli")) else 60.0 if unit.startswith("m") else 1.0
    return min(float(match.group(1)) * scale, RETRY_AFTER_CAP)


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), or the copies a
    LiteLLM proxy forwards from its upstream (``llm_provider-retry-after``), capped."""
    if not headers:
        return None
    value: float | None = None
    raw_ms = headers.get("retry-after-ms") or headers.get("llm_provider-retry-after-ms")
    raw = headers.get("retry-after") or headers.get("llm_provider-retry-after")
    try:
        if raw_ms is not None:
            value = float(raw_ms) / 1000.0
        elif raw is not None:
            value = float(raw)
    except ValueError:
        value = _http_date_delay(raw)
    if value is None or value < 0:
        return None
    return min(value, RETRY_AFTER_CAP)


def _http_date_delay(raw: str | None) -> float | None:
    if not raw:
        return None
    try:
        return email.utils.parsedate_to_datetime(raw).timestamp() - time.time()
    except (TypeError, ValueError):
        return None  # neither seconds nor a date: ignore it and back off normally


def body_error(body: object) -> tuple[str | None, str | None, object]:
    """(type, message, code) from an error body in either wire's shape."""
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            kind = inner.get("type")
            message = inner.get("message")
            return (
                str(kind) if kind is not None else None,
                str(message) if message is not None else None,
                inner.get("code"),
            )
    return None, None, None


def upstream_error(body: object) -> object:
    """A gateway's error with the upstream's own error JSON inside (OpenRouter's
    "Provider returned error" carries it as a string in ``metadata.raw``): the upstream
    body when it parses, so its real type and message are what the user sees."""
    error = body.get("error") if isinstance(body, dict) else None
    metadata = error.get("metadata") if isinstance(error, dict) else None
    raw = metadata.get("raw") if isinstance(metadata, dict) else None
    if isinstance(raw, str):
        try:
            inner = json.loads(raw)
        except ValueError:
            return body
        if isinstance(inner, dict) and isinstance(inner.get("error"), dict):
            return inner
    return body


def read_error(body: object, fallback_message: str) -> tuple[str | None, str]:
    """(type, message) of an error: the upstream's own when a gateway wrapped it."""
    kind, message, _ = body_error(upstream_error(body))
    text = message or fallback_message
    embedded = embedded_error(text)
    if embedded is not None:
        return embedded
    return kind, text


def embedded_error(message: str) -> tuple[str | None, str] | None:
    """An upstream error JSON inside a gateway's message text, if there is one with a type."""
    start = message.find("{")
    while start != -1:
        try:
            value, _ = json.JSONDecoder().raw_decode(message[start:])
        except ValueError:
            start = message.find("{", start + 1)
            continue
        kind, inner, _ = body_error(value)
        if kind:
            return kind, inner or message
        start = message.find("{", start + 1)
    return None
