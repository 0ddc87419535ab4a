"""What both wire adapters share: client ownership, leased streams, error facts."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from agent.models import ModelCatalog, ModelInfo
from agent.providers.base import (
    ErrorFacts,
    IncompleteStreamError,
    MalformedStreamError,
    ModelRequest,
    ResetReport,
    StaleStreamError,
)
from agent.providers.connection import ConnectionManager
from agent.providers.profiles import ProviderProfile
from agent.streaming.deltas import Delta

RETRY_AFTER_CAP = 120.0


class LeasedStream:
    """A response stream that holds a lease on the client that sent it, so a reset
    never closes that client while this stream's owner is still reading."""

    def __init__(
        self,
        manager: ConnectionManager[Any],
        send: Callable[[Any], Any],
        translate: Callable[[Any], Iterator[Delta]],
    ) -> None:
        self._lease = manager.lease()
        client = self._lease.__enter__()
        try:
            self._sdk_stream = send(client)
        except BaseException:
            self._lease.__exit__(None, None, None)
            raise
        self._translate = translate
        self._closed = False

    def __iter__(self) -> Iterator[Delta]:
        return self._translate(self._sdk_stream)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._sdk_stream, "close", None)
            if close is not None:
                close()
        finally:
            self._lease.__exit__(None, None, None)


class ProviderBase:
    """Shared life cycle of a provider; subclasses supply the wire."""

    wire: str = ""

    def __init__(
        self,
        profile: ProviderProfile,
        model: str,
        api_key: str | None,
        catalog: ModelCatalog,
        *,
        timeout: float = 600.0,
        eager_tool_streaming: bool | str | None = None,
    ) -> None:
        self.profile = profile
        self.name = profile.name
        self.model = model
        self.base_url = profile.base_url or ""
        self.is_local = profile.is_local
        self.model_info: ModelInfo = catalog.lookup(model)
        self.context_window = self.model_info.context_window
        self.max_output_tokens = self.model_info.max_output_tokens
        self.stale_timeout: float | None = None
        self.accepts_prefill = self.model_info.accepts_prefill and profile.prefill_passthrough
        self._api_key = api_key
        self._timeout = timeout
        # True: the per-tool field; "header": the older beta header, for endpoints that
        # refuse the field; False: neither. None: what the catalog says of the model.
        self._eager: bool | str = (
            self.model_info.eager_input_streaming if eager_tool_streaming is None else eager_tool_streaming
        )
        self._connection: ConnectionManager[Any] = ConnectionManager(self.wire, self._build_client, _close_client)

    # -- subclass hooks -------------------------------------------------------------
    def _build_client(self, on_request: Callable[[Any], None]) -> Any:
        raise NotImplementedError

    # -- shared behaviour -----------------------------------------------------------
    def _http_client(self, on_request: Callable[[Any], None]) -> Any:
        import httpx2

        timeout = httpx2.Timeout(self._timeout, connect=min(30.0, self._timeout))
        return httpx2.Client(timeout=timeout, event_hooks={"request": [on_request]}, follow_redirects=True)

    @property
    def client_generation(self) -> int:
        return self._connection.generation

    def reset(self, caller: str) -> ResetReport:
        return self._connection.reset(caller)

    def close(self) -> None:
        self._connection.close()

    def output_limit(self, request: ModelRequest) -> int | None:
        return self.profile.output_tokens(self.model_info, request.max_tokens, estimate_request_tokens(request))

    def common_error_facts(self, exc: BaseException) -> ErrorFacts | None:
        """Facts for errors that are the same on every wire."""
        import httpx2

        if isinstance(exc, StaleStreamError):
            return ErrorFacts("stale", str(exc))
        if isinstance(exc, IncompleteStreamError | MalformedStreamError):
            return ErrorFacts("incomplete_stream", str(exc))
        if isinstance(exc, httpx2.TimeoutException):
            return ErrorFacts("timeout", f"{type(exc).__name__}: {exc}")
        if isinstance(exc, httpx2.TransportError):
            return ErrorFacts("transport", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if isinstance(exc, OSError):
            return ErrorFacts("transport", f"{type(exc).__name__}: {exc}")
        return None


def _close_client(client: Any) -> None:
    client.close()


def estimate_request_tokens(request: ModelRequest) -> int:
    """A cheap estimate (about four characters a token) of the request's input size."""
    chars = len(request.system)
    for message in request.messages:
        for part in message.parts:
            for value in (getattr(part, "text", ""), getattr(part, "content", "")):
                chars += len(value) if isinstance(value, str) else 0
            arguments = getattr(part, "arguments", None)
            if arguments:
                chars += len(repr(arguments))
    chars += sum(len(t.description) + len(repr(t.schema)) for t in request.tools)
    return chars // 4


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), capped."""
    if not headers:
        return None
    value: float | None = None
    raw_ms = headers.get("retry-after-ms")
    raw = headers.get("retry-after")
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
