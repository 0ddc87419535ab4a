"""ProviderSimulator: a scripted fake LLM provider that real SDK clients can talk to."""

from __future__ import annotations

import socket
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import suppress
from types import TracebackType
from typing import Any, Literal

from agent.testing import local_servers as local
from agent.testing.connection import ConnState
from agent.testing.local_servers import ServerSettings
from agent.testing.prompt_cache import Clock, PromptCache, PromptUsage
from agent.testing.script import (
    ConnectionRecord,
    Flavour,
    HttpError,
    LocalFlavour,
    Outcome,
    RawSSE,
    RecordedRequest,
    Reply,
    ScriptItem,
    Wire,
    is_script_item,
)
from agent.testing.server import SimServer

NO_REPLY_LEFT = "simulator: no scripted reply left"


class ProviderSimulator:
    """A real HTTP/1.1 server on 127.0.0.1 speaking the Anthropic Messages and OpenAI chat
    completions wires. It starts serving on construction; use it as a context manager or
    call :meth:`close`.

    Every incoming (valid) request takes the next scripted item; a callable item is called
    with the :class:`RecordedRequest` and returns the outcome. Requests refused by
    validation (400) or by routing (404) are recorded but take no item.

    ``context_windows`` gives models a context window (by model id as sent): a request
    over it is refused with the wire's real context-length error. Sizes are counted by
    ``prompt_tokens`` (four characters of the request's JSON a token).

    It models prompt caching (``prompt_cache``: breakpoints on the Anthropic wire and
    for Claude through OpenRouter, automatic prefixes on chat completions) and reports
    the cache figures in each wire's usage; ``clock`` drives the cache TTLs.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        clock: Clock = time.monotonic,
        context_windows: Mapping[str, int] | None = None,
    ) -> None:
        self.stopping = threading.Event()
        self.prompt_cache = PromptCache(clock)
        self._servers: dict[LocalFlavour, ServerSettings] = dict(local.DEFAULT_SETTINGS)
        self._windows = {k.lower(): int(v) for k, v in (context_windows or {}).items()}
        self._lock = threading.Condition(threading.RLock())
        self._queue: deque[ScriptItem] = deque()
        self._behaviour: Callable[[RecordedRequest], Outcome] | None = None
        self._requests: list[RecordedRequest] = []
        self._logged: list[ConnState] = []
        self._states: dict[int, ConnState] = {}
        self._live: dict[int, socket.socket] = {}
        self._next_connection = 1
        self._server = SimServer(self, host)
        port = self._server.server_address[1]
        self.base_url = f"http://{host}:{port}"
        self.openai_base_url = self.base_url + "/v1"
        self.openrouter_base_url = self.base_url + "/api/v1"
        self.anthropic_gateway_url = self.base_url + "/anthropic"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"provider-simulator:{port}",
            daemon=True,
        )
        self._closed = False
        self._thread.start()

    # --- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> ProviderSimulator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and close every connection (recorded as closed by the server)."""
        if self._closed:
            return
        self._closed = True
        self.stopping.set()
        self._server.shutdown()
        with self._lock:
            sockets = list(self._live.values())
            self._live.clear()
            threads = [s.thread for s in self._states.values()]
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        deadline = time.monotonic() + 2.0
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        self._thread.join(1.0)

    # --- scripting -----------------------------------------------------------------------

    def script(self, *items: ScriptItem) -> None:
        """Queue outcomes: Reply, HttpError, RawSSE, or a callable (RecordedRequest) -> one
        of those. Each request takes the next item; a callable item is used once."""
        for item in items:
            if not is_script_item(item):
                raise TypeError(f"not a script item: {item!r}")
        with self._lock:
            self._queue.extend(items)

    def behaviour(self, fn: Callable[[RecordedRequest], Outcome] | None) -> None:
        """Fallback used for every request once the queue is empty (None removes it)."""
        with self._lock:
            self._behaviour = fn

    def set_context_window(self, model: str, tokens: int | None) -> None:
        """Give ``model`` a context window of ``tokens`` (None: no limit)."""
        with self._lock:
            if tokens is None:
                self._windows.pop(model.lower(), None)
            else:
                self._windows[model.lower()] = int(tokens)

    def context_window(self, model: object) -> int | None:
        """The context window given to ``model``, or None."""
        with self._lock:
            return self._windows.get(str(model).lower())

    def reset_script(self) -> None:
        with self._lock:
            self._queue.clear()
            self._behaviour = None

    @property
    def remaining(self) -> int:
        """Number of queued items not yet taken."""
        with self._lock:
            return len(self._queue)

    # --- observation ---------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def connections(self) -> list[ConnectionRecord]:
        with self._lock:
            return [self._snapshot(s) for s in self._logged]

    def connection(self, connection_id: int) -> ConnectionRecord | None:
        with self._lock:
            state = self._states.get(connection_id)
            return self._snapshot(state) if state else None

    def clear_log(self) -> None:
        """Forget recorded requests and connections (ids keep counting; open connections
        are still watched for wait_closed)."""
        with self._lock:
            self._requests.clear()
            self._logged.clear()

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: len(self._requests) >= n, timeout)

    def wait_closed(self, connection_id: int, timeout: float = 5.0) -> float | None:
        """time.monotonic() at which the server saw the client close that connection, or
        None (not closed by the client within ``timeout``, or closed by the server)."""
        with self._lock:
            self._lock.wait_for(lambda: self._closed_by(connection_id) is not None, timeout)
            state = self._states.get(connection_id)
            if state is None or state.closed_by != "client":
                return None
            return state.closed_at

    def _closed_by(self, connection_id: int) -> str | None:
        state = self._states.get(connection_id)
        return state.closed_by if state else None

    @staticmethod
    def _snapshot(state: ConnState) -> ConnectionRecord:
        return ConnectionRecord(
            state.connection_id,
            state.peer,
            state.opened_at,
            state.closed_at,
            state.closed_by,
            state.request_count,
        )

    # --- hooks called by the server ------------------------------------------------------

    def open_connection(self, sock: socket.socket, peer: tuple[str, int]) -> ConnState:
        with self._lock:
            state = ConnState(self._next_connection, (str(peer[0]), int(peer[1])), time.monotonic(), sock)
            self._next_connection += 1
            self._states[state.connection_id] = state
            self._logged.append(state)
            self._live[state.connection_id] = sock
            self._lock.notify_all()
            return state

    def mark_closed(self, conn: ConnState, by: Literal["client", "server"]) -> None:
        with self._lock:
            if conn.closed_by is None:
                conn.closed_at = time.monotonic()
                conn.closed_by = by
                self._lock.notify_all()

    def forget_socket(self, conn: ConnState) -> None:
        with self._lock:
            self._live.pop(conn.connection_id, None)

    def record(
        self,
        conn: ConnState,
        wire: Wire,
        flavour: Flavour,
        path: str,
        headers: dict[str, str],
        body: dict[str, Any],
        rejected: str | None,
    ) -> RecordedRequest:
        with self._lock:
            request = RecordedRequest(
                len(self._requests),
                wire,
                flavour,
                path,
                headers,
                body,
                conn.connection_id,
                time.monotonic(),
                rejected,
            )
            self._requests.append(request)
            conn.request_count += 1
            self._lock.notify_all()
            return request

    def prompt_usage(self, request: RecordedRequest) -> PromptUsage:
        """How the API would bill the request's prompt (the cache remembers it); a
        local server counts the whole prompt, cached or not."""
        if local.is_local(request.flavour):
            return PromptUsage(local.prompt_tokens(request.body))
        return self.prompt_cache.usage(request)

    # --- local servers -------------------------------------------------------------------

    def local_url(self, flavour: LocalFlavour) -> str:
        """The base URL (…/v1) of a local server the simulator plays: "llamacpp-python",
        "llama-server", "vllm" or "ollama"."""
        return f"{self.base_url}{local.PATHS[flavour]}/v1"

    def configure_server(self, flavour: LocalFlavour, **settings: Any) -> ServerSettings:
        """Start a local server differently: ``models=("a", "b")``, ``context_size=2048``."""
        with self._lock:
            self._servers[flavour] = local.with_settings(self._servers[flavour], **settings)
            return self._servers[flavour]

    def server_settings(self, flavour: LocalFlavour) -> ServerSettings:
        """How that local server is started now (models, context size)."""
        with self._lock:
            return self._servers[flavour]

    def put_back(self, outcome: Outcome) -> None:
        """The next request takes ``outcome`` again (a server that lost it will remake it)."""
        with self._lock:
            self._queue.appendleft(outcome)

    def next_outcome(self, request: RecordedRequest) -> Outcome:
        with self._lock:
            item: ScriptItem | None = self._queue.popleft() if self._queue else self._behaviour
        if item is None:
            return HttpError(500, NO_REPLY_LEFT)
        if isinstance(item, (Reply, HttpError, RawSSE)):
            return item
        try:
            outcome = item(request)
        except Exception as exc:
            traceback.print_exc()
            return HttpError(500, f"simulator: scripted callable raised {type(exc).__name__}: {exc}")
        if not isinstance(outcome, (Reply, HttpError, RawSSE)):
            return HttpError(500, f"simulator: scripted callable returned {outcome!r}")
        return outcome


__all__ = ["NO_REPLY_LEFT", "ProviderSimulator"]
