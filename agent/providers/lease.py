"""A response stream that holds a lease on the client that sent it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from agent.providers.connection import ConnectionManager
from agent.providers.deltas import Delta


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
