"""Ownership of one SDK client's life: build, track sockets, kill, rebuild, retire.

Why track sockets: closing a client or response from another thread does not wake a
read blocked in the worker thread; ``shutdown(SHUT_RDWR)`` on the socket does. An httpx2
``trace`` extension (installed by a request event hook) tells us every socket the client
connects, before any response exists, so a stall before the headers can be killed too.

Shut down from the watchdog, close from the owner: a retired client is closed only when
the last stream that leased it has finished, so its file descriptors are never closed
under a thread still reading them.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from agent.providers.base import ResetReport

log = logging.getLogger(__name__)

ClientT = TypeVar("ClientT")


@dataclass(eq=False)
class _Generation(Generic[ClientT]):
    """One built client with the sockets it opened and the streams using it."""

    client: ClientT
    number: int
    sockets: list[socket.socket] = field(default_factory=list)
    leases: int = 0
    retired: bool = False
    closed: bool = False
    kills: int = 0  # how many resets shut this client's sockets down
    # thread -> ``kills`` when that thread leased the client: a stream leased before a
    # kill is doomed even if its socket connects after it (the kill raced the connect).
    lease_epochs: dict[int, int] = field(default_factory=dict)


class SocketTracker:
    """The httpx2 trace hook of one generation: records each connected socket."""

    def __init__(self, sink: Callable[[socket.socket], None]) -> None:
        self._sink = sink

    def on_request(self, request: Any) -> None:
        request.extensions["trace"] = self._trace

    def _trace(self, event_name: str, info: dict[str, Any]) -> None:
        if event_name.endswith((".connect_tcp.complete", ".start_tls.complete")):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                self._sink(sock)


class ConnectionManager(Generic[ClientT]):
    """Builds clients with ``build(on_request_hook)`` and owns their life.

    ``build`` receives the request event hook to install in the ``httpx2.Client`` it
    creates, and returns the SDK client. ``close_client`` closes an SDK client.
    """

    def __init__(
        self,
        wire: str,
        build: Callable[[Callable[[Any], None]], ClientT],
        close_client: Callable[[ClientT], None],
    ) -> None:
        self.wire = wire
        self._build = build
        self._close_client = close_client
        self._lock = threading.Lock()
        self._count = 0
        self._current: _Generation[ClientT] = self._new_generation()
        self.resets = 0

    def _new_generation(self) -> _Generation[ClientT]:
        self._count += 1
        holder: list[_Generation[ClientT]] = []
        tracker = SocketTracker(lambda sock: self._remember(holder[0], sock))
        generation = _Generation(self._build(tracker.on_request), self._count)
        holder.append(generation)
        return generation

    def _remember(self, generation: _Generation[ClientT], sock: socket.socket) -> None:
        """Called in the thread that connected ``sock`` (the stream's worker)."""
        with self._lock:
            generation.sockets = [s for s in generation.sockets if s.fileno() != -1]
            generation.sockets.append(sock)
            epoch = generation.lease_epochs.get(threading.get_ident())
            doomed = generation.retired or (epoch is not None and epoch < generation.kills)
        if doomed:
            # Connected after the kill: this stream was abandoned already, so cut it
            # off before it sends anything.
            self._shutdown_one(sock)

    @property
    def client(self) -> ClientT:
        return self._current.client

    @property
    def generation(self) -> int:
        return self._current.number

    @contextmanager
    def lease(self) -> Iterator[ClientT]:
        """Use the current client for one request and its whole stream."""
        thread = threading.get_ident()
        with self._lock:
            generation = self._current
            generation.leases += 1
            generation.lease_epochs[thread] = generation.kills
        try:
            yield generation.client
        finally:
            with self._lock:
                generation.leases -= 1
                generation.lease_epochs.pop(thread, None)
                close_now = generation.retired and generation.leases == 0 and not generation.closed
                if close_now:
                    generation.closed = True
            if close_now:
                self._close(generation)

    def reset(self, caller: str) -> ResetReport:
        """Wake every read of the current client, then replace the client.

        If building the new client fails, the old one stays in service (its dead
        connections are discarded by its pool) and the report says why.
        """
        with self._lock:
            old = self._current
            old.kills += 1
            shut = self._shutdown_sockets(old)
        try:
            new = self._new_generation()
        except Exception as exc:  # a bad setting must not leave us with no client at all
            log.warning("connection reset (%s) could not rebuild the %s client: %s", caller, self.wire, exc)
            return ResetReport(self.wire, caller, False, f"rebuild failed, kept the old client: {exc}", shut)
        with self._lock:
            self._current = new
            old.retired = True
            close_now = old.leases == 0 and not old.closed
            if close_now:
                old.closed = True
            self.resets += 1
        if close_now:
            self._close(old)
        return ResetReport(self.wire, caller, True, f"new client #{new.number}", shut)

    def close(self) -> None:
        with self._lock:
            generation = self._current
            self._shutdown_sockets(generation)
            generation.retired = True
            close_now = generation.leases == 0 and not generation.closed
            if close_now:
                generation.closed = True
        if close_now:
            self._close(generation)

    @staticmethod
    def _shutdown_sockets(generation: _Generation[Any]) -> int:
        return sum(ConnectionManager._shutdown_one(sock) for sock in generation.sockets)

    @staticmethod
    def _shutdown_one(sock: socket.socket) -> int:
        if sock.fileno() == -1:
            return 0  # already closed by its owner: nothing to wake
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError as exc:  # not connected any more: the peer closed it first
            log.debug("socket shutdown skipped: %s", exc)
            return 0
        return 1

    def _close(self, generation: _Generation[ClientT]) -> None:
        try:
            self._close_client(generation.client)
        except Exception as exc:  # closing is best effort; a failure here loses nothing
            log.warning("closing retired %s client failed: %s", self.wire, exc)
