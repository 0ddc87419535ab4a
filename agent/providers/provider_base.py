"""What both wire adapters share: the client's life cycle, the facts of common errors,
and what a provider learns from its answers (a gateway's headers)."""

from __future__ import annotations

import threading
from collections.abc import Callable
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
from agent.providers.estimate import estimate_request_tokens
from agent.providers.options import ProviderOptions
from agent.providers.profiles import ProviderProfile

_GATEWAY_HEADERS = ("x-litellm-", "llm_provider-")


class ProviderBase:
    """Shared life cycle of a provider; subclasses supply the wire."""

    wire: str = ""

    def __init__(
        self,
        profile: ProviderProfile,
        model: str,
        api_key: str | None,
        catalog: ModelCatalog,
        options: ProviderOptions | None = None,
    ) -> None:
        options = options or ProviderOptions()
        self.profile = profile
        self.name = profile.name
        self.model = model
        self.base_url = profile.base_url or ""
        self.is_local = profile.is_local and not options.gateway
        self.model_info: ModelInfo = catalog.lookup(model)
        self._window: int = self.model_info.context_window
        # A local server's own context size, read once at the first use (None: it
        # does not say); a window override in the config file wins over it.
        self._server_window: int | None = None
        self._server_read = not profile.reads_server_limits or catalog.overrides_window(model)
        self._server_lock = threading.Lock()
        self.max_output_tokens = self.model_info.max_output_tokens
        self.stale_timeout = options.stale_timeout
        self.notices: list[str] = list(profile.notices)
        self.first_token_timeout = options.first_token_timeout
        self.reasoning = self.model_info.reasoning
        self.accepts_prefill = self.model_info.accepts_prefill and profile.prefill_passthrough
        self.caching = options.caching
        prices = self.model_info.prices
        self.prices = prices.for_ttl(self.caching.ttl) if prices is not None else None
        # Decided once: breakpoints for this model through this profile; the cache key's way.
        self._breakpoints = self.caching.enabled and profile.marks_breakpoints(self.model_info)
        self._cache_key_mode = profile.cache_key if self.caching.enabled else "none"
        self._api_key = api_key
        self._timeout = options.timeout
        eager = options.eager_tool_streaming
        self._eager: bool | str = self.model_info.eager_input_streaming if eager is None else eager
        self._connection: ConnectionManager[Any] = ConnectionManager(self.wire, self._build_client, _close_client)

    # -- subclass hooks -------------------------------------------------------------
    def _build_client(self, on_request: Callable[[Any], None]) -> Any:
        raise NotImplementedError

    # -- shared behaviour -----------------------------------------------------------
    def _http_client(self, on_request: Callable[[Any], None]) -> Any:
        import httpx2

        timeout = httpx2.Timeout(self._timeout, connect=min(30.0, self._timeout))
        hooks: dict[str, list[Callable[[Any], None]]] = {
            "request": [on_request],
            "response": [self._learn_from_response],
        }
        return httpx2.Client(timeout=timeout, event_hooks=hooks, follow_redirects=True)

    def _learn_from_response(self, response: Any) -> None:
        """A LiteLLM proxy on 127.0.0.1 is a gateway to cloud models, not a local model:
        once its headers show it, this provider gets cloud stall limits."""
        if self.is_local and any(name.lower().startswith(_GATEWAY_HEADERS) for name in response.headers):
            self.is_local = False
            self.notices.append(f"{self.base_url} is a gateway (LiteLLM): using cloud stall limits")

    @property
    def context_window(self) -> int:
        """The window: what a local server reports, else the model catalog's."""
        self._read_server_limits()
        return self._window

    @context_window.setter
    def context_window(self, value: int) -> None:
        self._window = value

    def _read_server_limits(self) -> int | None:
        """Ask a local server once for its context size (see ``server_info``)."""
        if self._server_read:
            return self._server_window
        with self._server_lock:
            if not self._server_read:
                from agent.providers.server_info import read_context_window

                self._server_window = read_context_window(self.base_url, self._api_key, self.model)
                if self._server_window:
                    self._window = self._server_window
                self._server_read = True
        return self._server_window

    @property
    def server_context_window(self) -> int | None:
        """The context size the server itself reported (None: it did not, or not local)."""
        return self._read_server_limits()

    def learn_window(self, window: int | None) -> None:
        """A local server named its context size in an error: use it from now on."""
        if window and self.profile.reads_server_limits:
            self._server_window = self._window = window
            self._server_read = True

    @property
    def client_generation(self) -> int:
        return self._connection.generation

    def reset(self, caller: str) -> ResetReport:
        return self._connection.reset(caller)

    def close(self) -> None:
        self._connection.close()

    def output_limit(self, request: ModelRequest) -> int | None:
        window = self._read_server_limits()
        return self.profile.output_tokens(self.model_info, request.max_tokens, estimate_request_tokens(request), window)

    def cut_means_full_context(self, request: ModelRequest, sent: int | None) -> bool:
        """A length cut of ``request`` (sent with max_tokens ``sent``) came from a full context."""
        estimated = estimate_request_tokens(request)
        window = self._read_server_limits()
        return self.profile.cut_means_full_context(self.model_info, request.max_tokens, sent, estimated, window)

    def common_error_facts(self, exc: BaseException) -> ErrorFacts | None:
        """Facts for errors that are the same on every wire."""
        import httpx2

        if isinstance(exc, StaleStreamError):
            return ErrorFacts("stale", str(exc))
        if isinstance(exc, IncompleteStreamError):
            return ErrorFacts("incomplete_stream", str(exc))
        if isinstance(exc, MalformedStreamError):
            return ErrorFacts("malformed_stream", str(exc))
        if isinstance(exc, httpx2.TimeoutException):
            return ErrorFacts("timeout", f"{type(exc).__name__}: {exc}")
        if isinstance(exc, httpx2.TransportError):
            return ErrorFacts("transport", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if isinstance(exc, OSError):
            return ErrorFacts("transport", f"{type(exc).__name__}: {exc}")
        return None


def _close_client(client: Any) -> None:
    client.close()
