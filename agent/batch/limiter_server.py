"""The rate limiter for worker processes: served by the batch's parent over a Unix socket.

``LimiterServer`` runs in the parent beside the one ``RateLimiter``; each worker process
connects with a ``LimiterClient`` (an authenticated ``multiprocessing.connection``). The
slots a connection holds are given back when it closes, so a worker that dies, even by
``kill -9``, never keeps a slot.
"""

from __future__ import annotations

import secrets
import socket
import threading
from contextlib import suppress
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener
from typing import Any

from agent.batch.limiter import RateLimiter

_GONE = (EOFError, OSError)


class LimiterServer:
    """Serves ``limiter`` to worker processes until ``close``; ``address`` and ``authkey``
    are what a ``LimiterClient`` needs."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter
        self.authkey = secrets.token_bytes(32)
        self._listener = Listener(family="AF_UNIX", authkey=self.authkey)
        self.address: str = str(self._listener.address)
        self._closed = threading.Event()
        self._connections: set[Connection] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="stayline-limiter", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn = self._listener.accept()
            except (*_GONE, AuthenticationError):
                if self._closed.is_set():
                    return
                continue  # a client that failed authentication, or went away at once
            if self._closed.is_set():
                conn.close()
                return
            with self._lock:
                self._connections.add(conn)
            threading.Thread(target=self._serve, args=(conn,), name="stayline-limiter-conn", daemon=True).start()

    def _serve(self, conn: Connection) -> None:
        leases: set[int] = set()
        try:
            while True:
                request = conn.recv()
                conn.send(self._answer(request, leases))
        except _GONE:
            pass  # the worker finished or died
        finally:
            for lease in leases:
                self.limiter.release(lease)
            with self._lock:
                self._connections.discard(conn)
            conn.close()

    def _answer(self, request: tuple[Any, ...], leases: set[int]) -> Any:
        verb, *args = request
        if verb == "acquire":
            lease = self.limiter.acquire(*args)
            if lease is not None:
                leases.add(lease)
            return lease
        if verb == "release":
            leases.discard(args[0])
            self.limiter.release(args[0])
            return None
        if verb == "pause":
            self.limiter.pause(*args)
            return None
        if verb == "release_owner":
            return self.limiter.release_owner(*args)
        raise ValueError(f"unknown limiter request {verb!r}")

    def close(self) -> None:
        """Stop serving and drop every connection (their slots are released)."""
        if self._closed.is_set():
            return
        self._closed.set()
        with suppress(OSError), socket.socket(socket.AF_UNIX) as poke:  # wake accept() so its thread ends
            poke.settimeout(1.0)
            poke.connect(self.address)  # a bare connection: nothing here waits on a handshake
        self._listener.close()
        self._thread.join(2.0)
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            conn.close()


class LimiterClient:
    """A worker's ``LimiterHandle`` for a ``LimiterServer`` (one connection, thread-safe)."""

    def __init__(self, address: str, authkey: bytes) -> None:
        self._conn = Client(address, family="AF_UNIX", authkey=authkey)
        self._lock = threading.Lock()

    def _call(self, *request: Any) -> Any:
        with self._lock:
            if self._conn.closed:  # a stream closed after its task ended: nothing left to do
                raise OSError("the limiter connection is closed")
            self._conn.send(request)
            return self._conn.recv()

    def acquire(self, key: str, owner: str, timeout: float) -> int | None:
        """See ``LimiterHandle.acquire``; raises when the limiter (the parent) is gone."""
        lease: int | None = self._call("acquire", key, owner, timeout)
        return lease

    def release(self, lease: int) -> None:
        """See ``LimiterHandle.release``; a limiter that is gone has nothing to release."""
        with suppress(*_GONE):
            self._call("release", lease)

    def pause(self, key: str, seconds: float) -> None:
        """See ``LimiterHandle.pause``."""
        with suppress(*_GONE):
            self._call("pause", key, seconds)

    def release_owner(self, owner: str) -> int:
        """See ``LimiterHandle.release_owner``."""
        try:
            count: int = self._call("release_owner", owner)
        except _GONE:
            return 0
        return count

    def close(self) -> None:
        """Close the connection (the server gives back whatever it still held)."""
        with self._lock:
            self._conn.close()
